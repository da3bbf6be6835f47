// Calls the generated types must refuse. tsc fails on this file (tsconfig.wrong.json) on exactly the
// lines marked `// ✗ …`, each with an error that says what the mark says, and nowhere else.
//
// A misspelled optional field is caught only where the body is typed as the schema (`satisfies`, or
// a variable of that type): openapi-fetch infers its argument generically, so a literal written
// inline in the call gets no excess-property check once its required fields are there
// (openapi-ts/openapi-typescript#1769). contract.mts types its bodies for that reason.
import createClient from "openapi-fetch";
import type { components, paths } from "careloop-api";

type CheckInCreate = components["schemas"]["CheckInCreate"];
type CheckInPatch = components["schemas"]["CheckInPatch"];
type ReminderCreate = components["schemas"]["ReminderCreate"];
type ReminderPatch = components["schemas"]["ReminderPatch"];

const api = createClient<paths>({ baseUrl: "http://127.0.0.1" });
const id = "0b8d6c1e-4f5a-4a39-9d61-2f7c1a0e5b77";
const recorded_at = "2026-11-20T08:00:00Z";

// Check-ins: a misspelled field, a field of the wrong type, a required field left out, a symptom
// outside the fixed vocabulary.
await api.POST("/v1/checkins", { body: { id, recorded_at, pian: 3 } satisfies CheckInCreate }); // ✗ 'pian' does not exist in type
await api.POST("/v1/checkins", { body: { id, recorded_at, pain: "3" } }); // ✗ Type 'string' is not assignable to type 'number'
await api.POST("/v1/checkins", { body: { id, pain: 3 } }); // ✗ Property 'recorded_at' is missing
await api.POST("/v1/checkins", { body: { id, recorded_at, side_effects: ["hiccups"] } }); // ✗ Type '"hiccups"' is not assignable
// Server-owned fields: a check-in's score is the server's to work out, a reminder's next time too.
await api.PATCH("/v1/checkins/{checkin_id}", { params: { path: { checkin_id: id } }, body: { peg_score: 5 } satisfies CheckInPatch }); // ✗ 'peg_score' does not exist in type
await api.POST("/v1/reminders", { body: { id, kind: "checkin", times: ["09:00"], next_fire_at: recorded_at } satisfies ReminderCreate }); // ✗ 'next_fire_at' does not exist in type
// Doses: a substance kind the contract does not know, a dose without its unit.
await api.POST("/v1/doses", { body: { id, taken_at: recorded_at, substance_kind: "krattom", amount: 2, unit: "g" } }); // ✗ Type '"krattom"' is not assignable
await api.POST("/v1/doses", { body: { id, taken_at: recorded_at, substance_kind: "kratom", amount: 2 } }); // ✗ 'unit' is missing
// A reminder without its times; a change to what a reminder is for, which an update cannot make.
await api.POST("/v1/reminders", { body: { id, kind: "checkin" } }); // ✗ Property 'times' is missing
await api.PATCH("/v1/reminders/{reminder_id}", { params: { path: { reminder_id: id } }, body: { kind: "dose" } satisfies ReminderPatch }); // ✗ 'kind' does not exist in type
// A path parameter under another name, a path that does not exist.
await api.GET("/v1/checkins/{checkin_id}", { params: { path: { id } } }); // ✗ 'id' does not exist in type '{ checkin_id: string; }'
await api.GET("/v1/check-ins", {}); // ✗ not assignable to parameter of type
// A field a check-in does not have.
const { data } = await api.GET("/v1/checkins/{checkin_id}", { params: { path: { checkin_id: id } } });
console.log(data?.pian); // ✗ Property 'pian' does not exist
