// The /v1 API. The session token lives in this tab's sessionStorage (gone when the tab
// closes; never localStorage, never a URL) and is sent only as an Authorization header.

const TOKEN_KEY = "nftreg.session";

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
}

export function session() {
  const raw = sessionStorage.getItem(TOKEN_KEY);
  if (!raw) return null;
  try {
    const s = JSON.parse(raw);
    if (new Date(s.expires_at) <= new Date()) {
      sessionStorage.removeItem(TOKEN_KEY);
      return null;
    }
    return s;
  } catch {
    sessionStorage.removeItem(TOKEN_KEY);
    return null;
  }
}

export function setSession(s) {
  if (s) sessionStorage.setItem(TOKEN_KEY, JSON.stringify(s));
  else sessionStorage.removeItem(TOKEN_KEY);
}

async function problemOf(response) {
  try {
    return await response.json();
  } catch {
    return {};
  }
}

/** JSON in, JSON out; a problem-details answer becomes an ApiError, no network a status 0. */
export async function api(path, { method = "GET", body, headers = {}, auth = false, raw } = {}) {
  const h = { Accept: "application/json", ...headers };
  if (body !== undefined && raw === undefined) h["Content-Type"] = "application/json";
  const s = session();
  if (auth && s) h.Authorization = `Bearer ${s.token}`;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: h,
      body: raw !== undefined ? raw : body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
    });
  } catch (e) {
    throw new ApiError(0, { detail: String(e.message || e) });
  }
  if (response.status === 401 && h.Authorization) setSession(null); // expired or revoked: sign in again
  if (!response.ok) throw new ApiError(response.status, await problemOf(response));
  return response.json();
}

/** A multipart POST with upload progress (fetch has none): onProgress(sent, total). */
export function upload(path, form, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    xhr.setRequestHeader("Accept", "application/json");
    const s = session();
    if (s) xhr.setRequestHeader("Authorization", `Bearer ${s.token}`);
    xhr.upload.addEventListener("progress", (e) => onProgress(e.loaded, e.lengthComputable ? e.total : 0));
    xhr.addEventListener("load", () => {
      let parsed = {};
      try {
        parsed = JSON.parse(xhr.responseText);
      } catch {
        parsed = {};
      }
      if (xhr.status === 401 && s) setSession(null);
      if (xhr.status >= 200 && xhr.status < 300) resolve(parsed);
      else reject(new ApiError(xhr.status, parsed));
    });
    xhr.addEventListener("error", () => reject(new ApiError(0, { detail: "network error" })));
    xhr.send(form);
  });
}

let infoPromise = null;
/** Chain id, registry contract and CID profile of this server (cached). */
export function serverInfo() {
  infoPromise ??= api("/v1/info").catch((e) => {
    infoPromise = null;
    throw e;
  });
  return infoPromise;
}
