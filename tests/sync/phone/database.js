'use strict'
// The phone's WatermelonDB database, built from the server's GET /v1/sync/schema: one tableSchema
// and one Model class per table, as an app generated from that schema would have. LokiJS in
// memory, so a phone lives exactly as long as its process.

const Database = require('@nozbe/watermelondb/Database').default
const Model = require('@nozbe/watermelondb/Model').default
const LokiJSAdapter = require('@nozbe/watermelondb/adapters/lokijs').default
const { appSchema, tableSchema } = require('@nozbe/watermelondb/Schema')

function buildDatabase(serverSchema) {
  const schema = appSchema({
    version: serverSchema.version,
    tables: serverSchema.tables.map((table) => tableSchema({ name: table.name, columns: table.columns })),
  })
  const adapter = new LokiJSAdapter({
    schema,
    useWebWorker: false,
    useIncrementalIndexedDB: false,
    // Autosave keeps a timer running, and the process would never exit.
    extraLokiOptions: { autosave: false },
  })
  const modelClasses = serverSchema.tables.map((table) => modelFor(table.name))
  return new Database({ adapter, modelClasses })
}

function modelFor(table) {
  return class extends Model {
    static table = table
  }
}

module.exports = { buildDatabase }
