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
    const err = (json as { error?: { code?: string; message?: string } } | undefined)?.error;
    const e = new ApiError(
      resp.status,
      err?.code ?? `http_${resp.status}`,
      err?.message ?? `The server answered ${resp.status} to ${method} ${path}.`,
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

// ---- Shapes returned by the API, not in its document yet (only the fields the UI uses) ----

/** A box as the API sends it: `[x1, y1, x2, y2]` or `{x1, y1, x2, y2}`. */
export type RawBox = [number, number, number, number] | { x1: number; y1: number; x2: number; y2: number };
export interface Box {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}
export function box(b: RawBox): Box {
  return Array.isArray(b) ? { x1: b[0], y1: b[1], x2: b[2], y2: b[3] } : b;
}

export interface Quality {
  detector_score?: number;
  size_px?: number;
  sharpness?: number;
  yaw_deg?: number;
  pitch_deg?: number;
  roll_deg?: number;
  usable?: boolean;
}

export interface QueryFace {
  index: number;
  bbox: RawBox;
  quality?: Quality;
  usable?: boolean;
  candidates?: number;
}

/** POST /queries: the query photo analysed, its faces to choose from. */
export interface Query {
  query_id: string;
  name?: string;
  width?: number;
  height?: number;
  faces: QueryFace[];
}

export interface VideoPlace {
  time_s: number;
  timestamp: string;
  track: number;
  frame_width: number;
  frame_height: number;
}

export interface Candidate {
  query_face: number;
  rank: number;
  score: number;
  false_match_rate: number | null;
  expected_false_candidates: number | null;
  face_id: number;
  image_id: number;
  collection: string;
  path: string;
  source: string;
  bbox: RawBox;
  captured_at: string | null;
  video: VideoPlace | null;
}

export interface SearchResult {
  search_id: number;
  /** Pairs of different people the calibration measured (null: no calibration). */
  calibration_comparisons: number | null;
  case_ref: string;
  purpose: string;
  candidate_ids: number[];
  query: string;
  collections: string[];
  gallery_size: number;
  threshold: number;
  fpir_threshold: number | null;
  target_fpir: number;
  exhaustive: boolean;
  faces: QueryFace[];
  candidates: Candidate[];
}

export interface CandidateRecord {
  id: number;
  search_id: number;
  case_ref: string;
  /** The purpose the search gave. */
  purpose: string;
  /** The face of the query photo it answers (its crop: GET /searches/{search_id}/query-faces/{query_face}). */
  query_face: number;
  face_id: number;
  score: number;
  confirmed_by: string[];
  rejected_by: string[];
}

export interface ReviewState {
  candidate: CandidateRecord;
  confirmed: boolean;
}

/** GET /candidates (its items) and GET /candidates/{id}: a candidate as a reviewer sees it. */
export interface CandidateView extends ReviewState {
  image_id: number;
  collection: string;
  path: string;
  bbox: RawBox;
  captured_at: string | null;
  /** For a face from a video: the time of its frame. */
  time_s: number | null;
  /** Share of comparisons between two different people scoring at least as high (null: no calibration). */
  false_match_rate: number | null;
  /** Faces the search compared against. */
  gallery_size: number;
  /** Pairs of different people the calibration measured (null: no calibration). */
  calibration_comparisons: number | null;
  /** Whether the face searched for is still kept (until every candidate of the search is decided). */
  query_face_kept: boolean;
}

/** GET /searches: one of the investigator's own searches and its candidates' review states. */
export interface Case {
  search: {
    id: number;
    actor: string;
    case_ref: string;
    purpose: string;
    collections: string[];
    gallery_size: number;
    started_at: string;
  };
  candidates: {
    id: number;
    face_id: number;
    query_face: number;
    rank: number;
    score: number;
    confirmations: number;
    rejected: boolean;
    erased: boolean;
  }[];
  query_faces_kept: number[];
}

export interface ImageRecord {
  id: number;
  collection: string;
  uri: string;
  source: string;
  width: number;
  height: number;
  format: string;
  captured_at: string | null;
  camera: string | null;
  ingested_at: string;
  video: { duration_s: number; frame_rate: number; codec: string } | null;
}

export interface FaceRecord {
  face_id: number;
  index: number;
  image_id: number;
  collection: string;
  uri: string;
  bbox: RawBox;
  quality: Quality;
  captured_at: string | null;
  moment: { track: number; time_s: number } | null;
}

export interface ImageView {
  image: ImageRecord;
  faces: FaceRecord[];
}

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

export type RightsRequest = Schemas['RightsRequest'];
export type RightsMatch = Schemas['RightsMatch'];
export type RightsReport = Schemas['RightsReport'];
export type Deleted = Schemas['Deleted'];

export interface AuditEntry {
  seq: number;
  at: string;
  actor: string;
  action: string;
  detail: unknown;
  prev_hash: string;
  hash: string;
}

export interface Page<T> {
  total: number;
  offset: number;
  limit: number;
  items: T[];
}

export interface Verify {
  entries: number;
  intact: boolean;
  first_break: { position: number; seq: number; reason: string } | null;
}
