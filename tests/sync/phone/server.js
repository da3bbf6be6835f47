'use strict'
// The phone's side of the wire: authenticated JSON requests to the Careloop server, each one noted
// (method, path, status) so a test can see what a sync sent; WatermelonDB's pullChanges and
// pushChanges on top of them.

class HttpError extends Error {
  constructor(method, path, status, body) {
    super(`${method} ${path} answered ${status}`)
    this.status = status
    this.body = body
  }
}

// The connection dropped after the request was sent: the server may have applied it.
class ResponseLost extends Error {}

class Server {
  constructor(baseUrl, token) {
    this.baseUrl = baseUrl.replace(/\/$/, '')
    this.token = token
    this.requests = []
  }

  async request(method, path, body) {
    const headers = { Authorization: `Bearer ${this.token}`, Accept: 'application/json' }
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json'
    }
    const response = await fetch(this.baseUrl + path, { method, headers, body })
    const text = await response.text()
    this.requests.push({ method, path, status: response.status, bytes: body ? body.length : 0 })
    const parsed = parseJson(text)
    if (!response.ok) {
      throw new HttpError(method, path, response.status, parsed)
    }
    return parsed
  }

  schema() {
    return this.request('GET', '/v1/sync/schema')
  }

  // WatermelonDB's pullChanges: the changes since `lastPulledAt` (null on the first sync).
  pull({ lastPulledAt, schemaVersion, migration }) {
    // As WatermelonDB's docs write it: `null` for a first sync and for no migration.
    const query = new URLSearchParams({
      last_pulled_at: String(lastPulledAt ?? null),
      schema_version: String(schemaVersion),
      migration: JSON.stringify(migration ?? null),
    })
    return this.request('GET', `/v1/sync?${query}`)
  }

  // WatermelonDB's pushChanges; `dropResponse` sends the push and then fails as if the
  // connection dropped before the answer came back.
  async push({ changes, lastPulledAt }, { dropResponse = false } = {}) {
    const path = `/v1/sync?last_pulled_at=${encodeURIComponent(lastPulledAt)}`
    await this.request('POST', path, JSON.stringify(changes))
    if (dropResponse) {
      throw new ResponseLost(`the response to POST ${path} was lost`)
    }
  }
}

function parseJson(text) {
  try {
    return text ? JSON.parse(text) : null
  } catch (error) {
    return text
  }
}

module.exports = { Server, HttpError, ResponseLost }
