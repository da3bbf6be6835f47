'use strict'
// One phone running the real WatermelonDB 0.28 sync against a Careloop server.
//
//   node tests/sync/phone/phone.js <server URL> <bearer token>
//
// It builds its database from the server's GET /v1/sync/schema, then reads one JSON command per
// line on stdin and writes one JSON reply per line on stdout: {"ok": true, ...} or
// {"ok": false, "error": {...}}. Everything else (logs, LokiJS chatter) goes to stderr.
//
//   {"cmd": "create", "table": t, "fields": {...}, "id": optional} → {"id"}
//   {"cmd": "create_many", "table": t, "records": [{...}]}   → {"ids"}   (one write, for bulk data)
//   {"cmd": "update", "table": t, "id": id, "fields": {...}} → {"record"}
//   {"cmd": "delete", "table": t, "id": id}                  (markAsDeleted: synced as a deletion)
//   {"cmd": "adopt", "table": t, "raw": {...}}               (a record as if pulled: a tampered phone)
//   {"cmd": "sync", "drop_push_response": false, "hold_push": false}
//        → {"pulled", "pushed", "conflicts", "last_pulled_at", "logged", "requests"}
//        drop_push_response: the push reaches the server, then the phone fails as if the
//        connection dropped before the answer; hold_push: pull, then answer {"paused": true} and
//        wait before pushing until {"cmd": "release"}, which answers with the sync's outcome.
//   {"cmd": "all", "table": t}                               → {"records": [raw, ...]} (live records)
//   {"cmd": "requests"}                                      → {"requests": [...]} (every request so far)
//   {"cmd": "unsynced"}                                      → {"unsynced": bool}
//   {"cmd": "quit"}
//
// Fields are columns as the phone stores them: instants in epoch milliseconds, lists and objects
// as JSON text (a list or object given for a text column is JSON-encoded, like the app's @json).

const crypto = require('node:crypto')
const readline = require('node:readline')

const { synchronize, hasUnsyncedChanges } = require('@nozbe/watermelondb/sync')
const { setGenerator } = require('@nozbe/watermelondb/utils/common/randomId')
const logger = require('@nozbe/watermelondb/utils/common/logger').default

const { buildDatabase } = require('./database')
const { Server, HttpError } = require('./server')

// stdout carries the replies only.
console.log = console.info = console.debug = (...messages) => console.error(...messages)

// What WatermelonDB warned about or logged as an error, so a test can insist there was nothing.
const logged = []
for (const level of ['warn', 'error']) {
  const original = logger[level].bind(logger)
  logger[level] = (...messages) => {
    logged.push({ level, message: messages.map(describe).join(' ') })
    original(...messages)
  }
}

function describe(message) {
  return message instanceof Error ? message.message : typeof message === 'string' ? message : JSON.stringify(message)
}

// Record ids are UUIDs, as the server stores them.
setGenerator(() => crypto.randomUUID())

class Phone {
  constructor(server, database) {
    this.server = server
    this.database = database
  }

  collection(table) {
    const collection = this.database.collections.get(table)
    if (!collection) {
      throw new Error(`no table ${table}`)
    }
    return collection
  }

  async create({ table, fields, id }) {
    const collection = this.collection(table)
    const record = await this.database.write(() =>
      collection.create((r) => {
        if (id !== undefined) {
          r._raw.id = id
        }
        assign(r, fields)
      }),
    )
    return { id: record.id }
  }

  async createMany({ table, records }) {
    const collection = this.collection(table)
    const created = await this.database.write(async () => {
      const prepared = records.map((fields) => collection.prepareCreate((record) => assign(record, fields)))
      await this.database.batch(prepared)
      return prepared
    })
    return { ids: created.map((record) => record.id) }
  }

  async update({ table, id, fields }) {
    const record = await this.collection(table).find(id)
    await this.database.write(() => record.update((r) => assign(r, fields)))
    return { record: { ...record._raw } }
  }

  async delete({ table, id }) {
    const record = await this.collection(table).find(id)
    await this.database.write(() => record.markAsDeleted())
    return {}
  }

  async adopt({ table, raw }) {
    const collection = this.collection(table)
    await this.database.write(() =>
      this.database.batch(collection.prepareCreateFromDirtyRaw({ ...raw, _status: 'synced', _changed: '' })),
    )
    return {}
  }

  async all({ table }) {
    const records = await this.collection(table).query().fetch()
    return { records: records.map((record) => ({ ...record._raw })) }
  }

  // One synchronize(), as the app runs it; a failure is a reply too, with what was logged and sent.
  async sync({ drop_push_response: dropPushResponse = false, hold_push: holdPush = false }) {
    if (!holdPush) {
      return this.synchronize({ dropPushResponse })
    }
    let paused
    const pausing = new Promise((resolve) => {
      paused = resolve
    })
    const releasing = new Promise((resolve) => {
      this.releasePush = resolve
    })
    const running = this.synchronize({
      dropPushResponse,
      beforePush: () => {
        paused({ paused: true })
        return releasing
      },
    })
    // Nothing to push: synchronize() finishes without pausing.
    const first = await Promise.race([pausing, running])
    if (first.paused) {
      this.heldSync = running
    }
    return first
  }

  async release() {
    const running = this.heldSync
    if (!running) {
      throw new Error('no sync is waiting to push')
    }
    this.heldSync = null
    this.releasePush()
    return running
  }

  async synchronize({ dropPushResponse, beforePush = async () => {} }) {
    const loggedBefore = logged.length
    const requestsBefore = this.server.requests.length
    const log = {}
    const outcome = () => ({
      logged: logged.slice(loggedBefore),
      requests: this.server.requests.slice(requestsBefore),
    })
    try {
      await synchronize({
        database: this.database,
        pullChanges: (args) => this.server.pull(args),
        pushChanges: async (args) => {
          await beforePush()
          return this.server.push(args, { dropResponse: dropPushResponse })
        },
        sendCreatedAsUpdated: true,
        log,
      })
    } catch (error) {
      return { ok: false, error: errorReply(error), phase: log.phase, ...outcome() }
    }
    return {
      pulled: log.remoteChangeCount,
      pushed: log.localChangeCount || 0,
      conflicts: (log.resolvedConflicts || []).length,
      last_pulled_at: log.newLastPulledAt,
      ...outcome(),
    }
  }

  async requests() {
    return { requests: this.server.requests }
  }

  async unsynced() {
    return { unsynced: await hasUnsyncedChanges({ database: this.database }) }
  }
}

function assign(record, fields) {
  const { columns } = record.collection.schema
  for (const [name, value] of Object.entries(fields)) {
    const column = columns[name]
    if (!column) {
      throw new Error(`${record.collection.table} has no column ${name}`)
    }
    const encoded = column.type === 'string' && value !== null && typeof value === 'object' ? JSON.stringify(value) : value
    record._setRaw(name, encoded)
  }
}

function errorReply(error) {
  const reply = { name: error.constructor.name, message: error.message }
  if (error instanceof HttpError) {
    reply.status = error.status
    reply.body = error.body
  }
  return reply
}

const COMMANDS = {
  create: 'create',
  create_many: 'createMany',
  update: 'update',
  delete: 'delete',
  adopt: 'adopt',
  all: 'all',
  sync: 'sync',
  release: 'release',
  requests: 'requests',
  unsynced: 'unsynced',
}

function parse(line) {
  try {
    return JSON.parse(line)
  } catch (error) {
    return { cmd: null, line }
  }
}

async function answer(phone, command) {
  if (command.cmd === null) {
    return { ok: false, error: { name: 'BadCommand', message: `not JSON: ${command.line}` } }
  }
  const method = COMMANDS[command.cmd]
  if (!method) {
    return { ok: false, error: { name: 'BadCommand', message: `unknown command ${command.cmd}` } }
  }
  try {
    return { ok: true, ...(await phone[method](command)) }
  } catch (error) {
    return { ok: false, error: errorReply(error) }
  }
}

function reply(message) {
  process.stdout.write(JSON.stringify(message) + '\n')
}

async function main() {
  const [serverUrl, token] = process.argv.slice(2)
  if (!serverUrl || !token) {
    console.error('usage: node phone.js <server URL> <bearer token>')
    process.exit(2)
  }
  const server = new Server(serverUrl, token)
  let phone
  try {
    const serverSchema = await server.schema()
    phone = new Phone(server, buildDatabase(serverSchema))
    reply({ ok: true, ready: true, schema_version: serverSchema.version, tables: serverSchema.tables.map((t) => t.name) })
  } catch (error) {
    reply({ ok: false, error: errorReply(error) })
    process.exit(1)
  }

  const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity })
  for await (const line of lines) {
    if (!line.trim()) {
      continue
    }
    const command = parse(line)
    if (command.cmd === 'quit') {
      reply({ ok: true })
      break
    }
    reply(await answer(phone, command))
  }
  process.exit(0)
}

main()
