// The app team's view of the API: openapi-fetch over the types openapi-typescript generates from
// openapi.yaml. `node contract.mjs <scenario> <base URL> <bearer token>` runs one scenario against a
// live server and prints its results as one JSON object, which tests/contract asserts on. Every
// call here must type-check in strict mode against the generated types.
import createClient from "openapi-fetch";
import type { components, paths } from "careloop-api";

// The one Node global this program reads (the lockfile has no @types/node, and needs none).
declare const process: { argv: string[] };

type CheckIn = components["schemas"]["CheckIn"];
type CheckInCreate = components["schemas"]["CheckInCreate"];
type DoseCreate = components["schemas"]["DoseCreate"];
type DosePatch = components["schemas"]["DosePatch"];
type Reminder = components["schemas"]["Reminder"];
type ReminderCreate = components["schemas"]["ReminderCreate"];
type ReminderPatch = components["schemas"]["ReminderPatch"];
type Export = components["schemas"]["Export"];
type Problem = components["schemas"]["Problem"];

const [scenario = "", baseUrl = "", token = ""] = process.argv.slice(2);
const api = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${token}` } });
const anonymous = createClient<paths>({ baseUrl });

/** What the tests read of one answer: its status and ETag, and the typed body or problem. */
function outcome<T>(result: { data?: T; error?: Problem; response: Response }) {
  return {
    status: result.response.status,
    etag: result.response.headers.get("ETag"),
    data: result.data ?? null,
    problem: result.error ?? null,
  };
}

function checkIn(recordedAt: string, answers: Omit<CheckInCreate, "id" | "recorded_at"> = {}): CheckInCreate {
  return { id: crypto.randomUUID(), recorded_at: recordedAt, ...answers };
}

const scenarios: Record<string, () => Promise<object>> = {
  async "create-and-read"() {
    const created = await api.POST("/v1/checkins", {
      body: checkIn("2026-11-20T09:30:00+01:00", {
        pain: 7, enjoyment_interference: 5, activity_interference: 6, mood: 4, side_effects: ["dizziness"],
      }),
    });
    const id = created.data?.id ?? "";
    const read = await api.GET("/v1/checkins/{checkin_id}", { params: { path: { checkin_id: id } } });
    const readBack: CheckIn | undefined = read.data;
    const pegScore: number | null | undefined = readBack?.peg_score;
    return { created: outcome(created), read: outcome(read), pegScore };
  },

  async pages() {
    const created: string[] = [];
    for (let hour = 0; hour < 5; hour++) {
      const { data } = await api.POST("/v1/checkins", {
        body: checkIn(`2026-11-20T0${hour}:00:00Z`, { mood: hour }),
      });
      if (data) created.push(data.id);
    }
    const pages: string[][] = [];
    let cursor: string | null = null;
    do {
      const query: { limit: number; cursor?: string } = cursor ? { limit: 2, cursor } : { limit: 2 };
      const { data, error } = await api.GET("/v1/checkins", { params: { query } });
      if (!data) return { created, pages, problem: error ?? null };
      pages.push(data.items.map((item) => item.id));
      cursor = data.next_cursor;
    } while (cursor !== null);
    return { created, pages };
  },

  async problems() {
    const invalid = await api.POST("/v1/checkins", { body: checkIn("2026-11-20T08:00:00Z", { pain: 11 }) });
    const missing = await api.GET("/v1/checkins/{checkin_id}", {
      params: { path: { checkin_id: crypto.randomUUID() } },
    });
    const unauthenticated = await anonymous.GET("/v1/checkins");
    return { invalid: outcome(invalid), missing: outcome(missing), unauthenticated: outcome(unauthenticated) };
  },

  async "stale-if-match"() {
    const created = await api.POST("/v1/checkins", { body: checkIn("2026-11-20T08:00:00Z", { pain: 5 }) });
    const checkinId = created.data?.id ?? "";
    const readEtag = created.response.headers.get("ETag") ?? "";
    const patch = (pain: number) => api.PATCH("/v1/checkins/{checkin_id}", {
      params: { path: { checkin_id: checkinId }, header: { "If-Match": readEtag } },
      body: { pain },
    });
    const corrected = await patch(6);
    const stale = await patch(7);
    return { corrected: outcome(corrected), stale: outcome(stale) };
  },

  async dose() {
    const dose: DoseCreate = {
      id: crypto.randomUUID(), taken_at: "2026-11-20T09:00:00Z", substance_kind: "kratom", form: "leaf_powder",
      product: "Green Malay", amount: 2.5, unit: "g",
    };
    const created = await api.POST("/v1/doses", { body: dose });
    const correction: DosePatch = { amount: 3 };
    const corrected = await api.PATCH("/v1/doses/{dose_id}", {
      params: { path: { dose_id: dose.id }, header: { "If-Match": created.response.headers.get("ETag") ?? "" } },
      body: correction,
    });
    return { created: outcome(created), corrected: outcome(corrected) };
  },

  async "minimal-reminder"() {
    const reminder: ReminderCreate = { id: crypto.randomUUID(), kind: "checkin", times: ["09:00"] };
    return { created: outcome(await api.POST("/v1/reminders", { body: reminder })) };
  },

  async "reminder-edit"() {
    const reminder: ReminderCreate = { id: crypto.randomUUID(), kind: "checkin", times: ["09:00"], label: "Morning" };
    await api.POST("/v1/reminders", { body: reminder });
    const read = await api.GET("/v1/reminders/{reminder_id}", { params: { path: { reminder_id: reminder.id } } });
    if (!read.data) return { read: outcome(read) };
    // What an edit screen does: the read reminder less what the server owns, one field changed.
    const { id, kind, created_at, updated_at, next_fire_at, ...editable }: Reminder = read.data;
    const change: ReminderPatch = { ...editable, times: ["10:00", "21:00"] };
    const updated = await api.PATCH("/v1/reminders/{reminder_id}", {
      params: { path: { reminder_id: id }, header: { "If-Match": read.response.headers.get("ETag") ?? "" } },
      body: change,
    });
    return { read: outcome(read), updated: outcome(updated), unchanged: { kind, created_at, next_fire_at } };
  },

  async "reminder-one-field"() {
    const reminder: ReminderCreate = {
      id: crypto.randomUUID(), kind: "dose", times: ["09:00"], active: false, confirm_within_minutes: 30,
      alert_caregivers: true,
    };
    await api.POST("/v1/reminders", { body: reminder });
    const change: ReminderPatch = { label: "Evening pill" };
    const updated = await api.PATCH("/v1/reminders/{reminder_id}", {
      params: { path: { reminder_id: reminder.id } }, body: change,
    });
    return { updated: outcome(updated) };
  },

  async export() {
    const { data } = await api.POST("/v1/checkins", { body: checkIn("2026-11-20T08:00:00Z", { pain: 4 }) });
    const json = await api.GET("/v1/me/export");
    const exported: Export | undefined = json.data;
    // A ZIP archive: openapi-fetch hands it over as bytes when asked to.
    const csv = await api.GET("/v1/me/export/csv", { parseAs: "arrayBuffer" });
    const zip = csv.data ? new Uint8Array(csv.data) : new Uint8Array();
    return {
      checkin: data?.id ?? null,
      json: { status: json.response.status, checkins: exported?.checkins.map((item) => item.id) ?? null },
      csv: { status: csv.response.status, type: csv.response.headers.get("Content-Type"), magic: String.fromCharCode(...zip.slice(0, 2)) },
    };
  },
};

const run = scenarios[scenario];
if (!run) throw new Error(`no scenario ${JSON.stringify(scenario)}: ${Object.keys(scenarios).join(", ")}`);
console.log(JSON.stringify(await run()));
