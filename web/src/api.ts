// The HTTP API under /api/v1: same-origin requests with the session cookie, the CSRF token
// on every state-changing request, and errors as {"error": {"code", "message"}}.

import type { components } from './generated/api';
import { lang, m } from './i18n';

/** An error the API returned (or a network failure, code "network"). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** The request field at fault, when the API names one (`received_on`, `controller-contact`…). */
    readonly field: string | null = null,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/**
 * An API error as the user reads it: in English the server's message (it names the field, file
 * or record); in French the code's words, with the server's message as the detail.
 */
export function apiMessage(e: ApiError): string {
  const words = m().common.errors[e.code];
  if (lang() === 'en' || !words) return e.message || words || e.code;
  return e.message ? m().common.errorDetail(words, e.message) : words;
}

/** What to show for a failed request: the API's message, or `fallback` for any other failure. */
export function errorText(e: unknown, fallback: string): string {
  return e instanceof ApiError ? apiMessage(e) : fallback;
}

/** The request field an error names, if it is an API error that names one. */
export const fieldOf = (e: unknown): string | null => (e instanceof ApiError ? e.field : null);

const CSRF_KEY = 'gabarit.csrf';

/** The CSRF token of this tab's session (kept for the tab only; the session itself is an HttpOnly cookie). */
export const csrf = {
  get: (): string | null => sessionStorage.getItem(CSRF_KEY),
  set: (token: string): void => sessionStorage.setItem(CSRF_KEY, token),
  clear: (): void => sessionStorage.removeItem(CSRF_KEY),
};

/** Called when the API says the session is over (401): the app goes back to the login page. */
let onUnauthenticated: (e: ApiError) => void = () => {};
export function whenUnauthenticated(f: (e: ApiError) => void): void {
  onUnauthenticated = f;
}

type Body = FormData | object | undefined;

/** One request; resolves to the parsed JSON, rejects with an ApiError carrying the API's message. */
export async function request<T>(method: string, path: string, body?: Body): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  let payload: BodyInit | undefined;
  if (body instanceof FormData) {
    payload = body;
  } else if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  if (method !== 'GET' && method !== 'HEAD') {
    const token = csrf.get();
    if (token) headers['X-CSRF-Token'] = token;
  }
  let resp: Response;
  try {
    resp = await fetch(`/api/v1${path}`, { method, headers, body: payload, credentials: 'same-origin', cache: 'no-store' });
  } catch {
    throw new ApiError(0, 'network', m().common.networkError);
  }
  const text = await resp.text();
  let json: unknown = undefined;
  if (text) {
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
  }
  if (!resp.ok) {
    const err = (json as { error?: { code?: string; message?: string; field?: string | null } } | undefined)?.error;
    const e = new ApiError(
      resp.status,
      err?.code ?? `http_${resp.status}`,
      err?.message ?? `The server answered ${resp.status} to ${method} ${path}.`,
      err?.field ?? null,
    );
    if (resp.status === 401 && path !== '/session') onUnauthenticated(e);
    throw e;
  }
  return json as T;
}

export const get = <T>(path: string): Promise<T> => request<T>('GET', path);
export const post = <T>(path: string, body?: Body): Promise<T> => request<T>('POST', path, body ?? {});
export const put = <T>(path: string, body: Body): Promise<T> => request<T>('PUT', path, body);
export const del = <T>(path: string): Promise<T> => request<T>('DELETE', path);

// ---- Shapes returned by the API: generated from its OpenAPI document (web/openapi.json) ----

type Schemas = components['schemas'];
/** One value of a governance list: its code and, for bases and conditions, its GDPR article. */
export type Term = Schemas['Term'];
/** The lists the forms offer, in the order shown; their words are in the catalogues. */
export type Vocabulary = Schemas['Vocabulary'];
export type Role = Schemas['Role'];
/** GET /me: the caller, and for curators the folders they may ingest from by path. */
export type Me = Schemas['MeView'];
/** GET /session: this browser's web session, if any. */
export type CurrentSession = Schemas['CurrentSession'];
export type Session = Schemas['Session'];
export type CollectionSummary = Schemas['CollectionSummary'];
export type Retention = Schemas['Retention'];
export type Governance = Schemas['GovernanceDraft'];
/** PUT /collections/{name}/governance and POST /collections: the fields still missing (flag names). */
export type GovernanceSaved = Schemas['GovernanceSaved'];
export type CollectionDetails = Schemas['CollectionDetails'];

// ---- The governance vocabulary, served by the API (GET /vocabulary) ----

let loadedVocabulary: Vocabulary | null = null;

/** Fetches the vocabulary once per page load (after login: the route is authenticated). */
export async function loadVocabulary(): Promise<Vocabulary> {
  loadedVocabulary ??= await get<Vocabulary>('/vocabulary');
  return loadedVocabulary;
}

/** The vocabulary `loadVocabulary` fetched (every page runs after it). */
export function vocabulary(): Vocabulary {
  if (!loadedVocabulary) throw new Error('the vocabulary is loaded at login');
  return loadedVocabulary;
}

/** The letter of a GDPR article (`6(1)(f)` → `f`). */
export function articleLetter(terms: Term[], code: string): string {
  return terms.find((t) => t.code === code)?.article?.match(/\((\w)\)$/)?.[1] ?? '?';
}

// ---- More shapes of the API's answers, from its document ----

/** A box as the API sends it: `[x1, y1, x2, y2]` in image pixels. */
export type RawBox = Schemas['BBox'];
export interface Box {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}
export function box(b: RawBox): Box {
  return { x1: b[0], y1: b[1], x2: b[2], y2: b[3] };
}

export type Quality = Schemas['Quality'];
/** A face of a search's query photo, with how many candidates it got. */
export type QueryFace = Schemas['QueryFace'];
/** POST /queries: the query photo analysed, its faces to choose from. */
export type Query = Schemas['AnalysedQuery'];
export type VideoPlace = Schemas['VideoPlace'];
export type Candidate = Schemas['Candidate'];
/** POST /search, POST /queries/{id}/search: candidates for review, with the search id. */
export type SearchResult = Schemas['GovernedSearch'];
export type CandidateRecord = Schemas['CandidateRecord'];
export type ReviewState = Schemas['ReviewState'];
/** GET /candidates (its items) and GET /candidates/{id}: a candidate as a reviewer sees it. */
export type CandidateView = Schemas['CandidateView'];
/** GET /searches: one of the investigator's own searches and its candidates' review states. */
export type Case = Schemas['Case'];
export type Cases = Schemas['Cases'];
/** GET /candidates: the candidates awaiting the caller's decision. */
export type Candidates = Schemas['Candidates'];

export type ImageRecord = Schemas['ImageRecord'];
export type FaceRecord = Schemas['FaceRecord'];
/** GET /images/{id}: the record, its faces and a video's tracks. */
export type ImageView = Schemas['ImageView'];

export type JobState = 'queued' | 'running' | 'done' | 'failed';

/** What an ingestion job reports once done. */
export type IngestReport = Schemas['IngestReport'];
/** What a confirmed erasure's job reports once done. */
export type ErasureReport = Schemas['ErasureReport'];

/**
 * A background job (GET /jobs/{id}, GET /jobs): an ingestion (POST /jobs, POST
 * /collections/{name}/uploads) or a confirmed erasure (POST /rights/{id}/erase with `confirm`),
 * its `report` (once done) read as its kind's.
 */
export type Job<R = IngestReport> = Omit<Schemas['BackgroundJob'], 'report'> & { report?: R | null };
export type ErasureJob = Job<ErasureReport>;

/** What a grouping job reports once done. */
export type GroupingReport = Schemas['GroupingReport'];
/** A grouping job (POST /collections/{name}/people/jobs). */
export type GroupJob = Job<GroupingReport>;

/** GET /collections/{name}/people (its items): a person of a collection, most faces first. */
export type PersonRecord = Schemas['PersonRecord'];
export type PeoplePage = Schemas['PeoplePage'];
/** One face's place in a grouping. */
export type Assignment = Schemas['Assignment'];
/** GET /people/{id}: the person (its counts) with its faces (`members`). */
export type PersonView = Schemas['PersonView'];
/** The person a change made or left (split, move, "not this person"). */
export type PersonId = Schemas['PersonId'];

export type RightsRequest = Schemas['RightsRequest'];
export type RightsMatch = Schemas['RightsMatch'];
export type RightsReport = Schemas['RightsReport'];
export type Deleted = Schemas['Deleted'];

export type AuditEntry = Schemas['Entry'];
/** GET /audit: a page of entries, and every action the log holds. */
export type AuditPage = Schemas['AuditPage'];
/** GET /audit/verify. */
export type Verify = Schemas['Verified'];
export type UserRecord = Schemas['UserRecord'];
export type KeyRecord = Schemas['KeyRecord'];
/** GET /users/{name}/keys. */
export type Keys = Schemas['Keys'];
/** POST /users, POST /users/{name}/keys: the key, shown once. */
export type NewKey = Schemas['NewKey'];
