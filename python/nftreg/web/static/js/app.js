// nftreg's web app: a shell (language, calendar, wallet) and one view per screen, routed by the
// URL fragment. Views keep their state in module variables so a language switch re-renders
// them without losing what the person did.

import { api, ApiError, serverInfo, session, setSession, upload } from "./api.js";
import { cidOf, contentHash } from "./cid.js";
import { clear, details, download, h } from "./dom.js";
import { calendar, formatBytes, formatDate, formatNumber, formatPercent, lang, setCalendar, setLang, t } from "./i18n.js";
import { qrSvg } from "./qr.js";
import { account, chainId, discover, personalSign, siweMessage, wallets } from "./wallet.js";

const main = document.getElementById("main");
const MAX_LOCAL_HASH = 2 * 1024 * 1024 * 1024;

// ---------------------------------------------------------------- errors, links, small parts
function errorNode(e) {
  const box = h("div", { class: "error", role: "alert" });
  if (e instanceof ApiError) {
    const known = [400, 401, 403, 404, 409, 413, 422, 429, 500, 503];
    const key = e.status === 0 ? "err.network" : known.includes(e.status) ? `err.${e.status}` : "err.other";
    box.append(h("p", {}, t(key, { status: e.status })));
    if (e.problem.detail && e.status !== 0) box.append(h("p", { class: "detail", lang: "en" }, t("err.detail", { detail: e.problem.detail })));
  } else {
    box.append(h("p", {}, String(e && e.message ? e.message : e)));
  }
  return box;
}

function gatewayLink(cid) {
  if (!cid) return null;
  return h("a", { href: `/ipfs/${encodeURIComponent(cid)}`, class: "mono", title: t("asset.open") }, cid);
}

function mono(text) {
  return h("span", { class: "mono" }, text);
}

function stateText(a) {
  // registered off-chain: logging | logged | anchored (a log entry, no token yet)
  if (a.onchain === false && ["logging", "logged", "anchored"].includes(a.status)) return t(`state.${a.status}`);
  if (a.status !== "minted") return t("state.pending");
  return a.final ? t("state.final") : t("state.minted", { block: formatNumber(a.block_number) });
}

const metaCache = new Map();

/** The asset's ERC-721 metadata (name, description, attributes) from this node's gateway,
 * filled in when it arrives; every value is shown as text. */
function metadataBox(cid) {
  const box = h("div", { class: "metadata", "data-cid": cid });
  if (!cid) return box;
  if (!metaCache.has(cid)) {
    metaCache.set(cid, fetch(`/ipfs/${encodeURIComponent(cid)}`, { credentials: "omit" }).then((r) => (r.ok ? r.json() : null)).catch(() => null));
  }
  metaCache.get(cid).then((m) => {
    if (!m || typeof m !== "object") return;
    const attrs = Array.isArray(m.attributes) ? m.attributes.filter((x) => x && typeof x === "object") : [];
    clear(box,
      typeof m.name === "string" ? h("p", { class: "asset-name", "data-field": "name" }, m.name) : null,
      typeof m.description === "string" ? h("p", { class: "asset-desc" }, m.description) : null,
      attrs.length ? h("ul", { class: "attrs" }, attrs.map((x) => h("li", {}, `${String(x.trait_type ?? "")}: ${String(x.value ?? "")}`))) : null);
  });
  return box;
}

function hasToken(a) {
  return a.token_id !== null && a.token_id !== undefined;
}

function certLink(a) {
  return hasToken(a) ? h("a", { href: `#/cert/${a.token_id}` }, t("asset.certificate")) : null;
}

function assetDetails(a) {
  return h("div", {}, metadataBox(a.metadata_cid), details([
    [t("asset.token"), hasToken(a) ? formatNumber(a.token_id) : null, { "data-field": "token_id" }],
    [t("asset.owner"), mono(a.owner), { "data-field": "owner" }],
    [t("asset.hash"), mono(a.content_hash), { "data-field": "content_hash" }],
    [t("asset.cid"), a.asset_cid ? gatewayLink(a.asset_cid) : null, { "data-field": "asset_cid" }],
    [t("asset.metadata"), gatewayLink(a.metadata_cid), { "data-field": "metadata_cid" }],
    [t("asset.tx"), a.tx_hash ? mono(a.tx_hash) : null, { "data-field": "tx_hash" }],
    [t("asset.block"), a.block_number !== null ? formatNumber(a.block_number) : null, { "data-field": "block_number" }],
    [t("asset.status"), stateText(a), { "data-field": "status" }],
    [t("asset.registered"), a.registered_at ? formatDate(a.registered_at) : null, { "data-field": "registered_at" }],
  ]));
}

function fileInput(id, labelKey, onFile, accept) {
  const input = h("input", { type: "file", id, accept });
  input.addEventListener("change", () => input.files[0] && onFile(input.files[0]));
  const zone = h("div", { class: "drop" },
    h("label", { for: id }, t(labelKey)),
    h("p", { class: "hint" }, t("file.drop")),
    input);
  zone.addEventListener("dragover", (e) => {
    e.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    if (e.dataTransfer.files[0]) onFile(e.dataTransfer.files[0]);
  });
  return zone;
}

function viewTitle(key) {
  return h("h1", { tabindex: "-1", id: "view-title" }, t(key));
}

function nfc(s) {
  return s.normalize("NFC").trim();
}

// ---------------------------------------------------------------- account (sign in)
const acct = { wallet: null, message: null, busy: false, error: null };

function pickWallet() {
  const list = wallets();
  if (!acct.wallet || !list.includes(acct.wallet)) acct.wallet = list[0] || null;
  return list;
}

function renderAccount() {
  const box = document.getElementById("account");
  const s = session();
  const list = pickWallet();
  if (s) {
    clear(box,
      h("p", { id: "signed-in" }, t("wallet.signedin", { address: s.address, time: formatDate(s.expires_at) })),
      acct.message ? h("details", { class: "siwe" }, h("summary", {}, t("wallet.signed")), h("pre", { id: "siwe-message", lang: "en" }, acct.message)) : null,
      h("button", { type: "button", id: "signout", onclick: () => { setSession(null); acct.message = null; renderAccount(); route(); } }, t("wallet.signout")));
    return;
  }
  if (list.length === 0) {
    clear(box, h("p", { class: "notice", id: "no-wallet" }, t("wallet.none")));
    return;
  }
  const parts = [];
  if (list.length > 1) {
    const sel = h("select", { id: "wallet-select", onchange: (e) => { acct.wallet = list[Number(e.target.value)]; } },
      list.map((w, i) => h("option", { value: String(i), selected: w === acct.wallet }, w.name)));
    parts.push(h("label", { for: "wallet-select" }, t("wallet.choose")), sel);
  }
  parts.push(h("button", { type: "button", id: "signin", disabled: acct.busy, onclick: signIn }, t("wallet.signin")));
  if (acct.message) {
    parts.push(h("div", { class: "siwe" }, h("p", {}, t("wallet.message")), h("pre", { id: "siwe-message", lang: "en" }, acct.message)));
  }
  if (acct.busy) parts.push(h("p", { role: "status" }, t("wallet.signing")));
  if (acct.error) parts.push(errorNode(acct.error));
  clear(box, parts);
}

async function signIn() {
  acct.busy = true;
  acct.error = null;
  renderAccount();
  try {
    const provider = acct.wallet.provider;
    const address = await account(provider);
    const [nonce, chain] = await Promise.all([api("/v1/auth/nonce", { method: "POST", body: {} }), chainId(provider)]);
    const issued = new Date();
    acct.message = siweMessage({
      domain: location.host,
      address,
      statement: t("wallet.statement"),
      uri: `${location.origin}/`,
      chainId: chain,
      nonce: nonce.nonce,
      issuedAt: issued.toISOString(),
      expirationTime: new Date(Math.min(Date.parse(nonce.expires_at), issued.getTime() + 10 * 60 * 1000)).toISOString(),
    });
    renderAccount();
    let signature;
    try {
      signature = await personalSign(provider, address, acct.message);
    } catch (e) {
      throw new Error(t("wallet.rejected", { detail: e && e.message ? e.message : String(e) }));
    }
    const s = await api("/v1/auth/siwe", { method: "POST", body: { message: acct.message, signature } });
    setSession(s);
  } catch (e) {
    acct.error = e;
  } finally {
    acct.busy = false;
    renderAccount();
    if (session()) route();
  }
}

// ---------------------------------------------------------------- register
const reg = { file: null, name: "", description: "", attrs: [{ key: "", value: "" }], private: false, offchain: false, phase: null,
  sent: 0, total: 0, local: null, asset: null, dup: null, error: null, previewUrl: null };

function preview() {
  if (!reg.file) return null;
  const type = reg.file.type || "";
  if (!reg.previewUrl) reg.previewUrl = URL.createObjectURL(reg.file);
  const info = h("p", { id: "file-chosen" }, t("file.chosen", { name: reg.file.name, size: formatBytes(reg.file.size) }));
  let media = null;
  if (type.startsWith("image/")) media = h("img", { src: reg.previewUrl, alt: reg.file.name, class: "preview" });
  else if (type.startsWith("audio/")) media = h("audio", { src: reg.previewUrl, controls: true, class: "preview" });
  else if (type.startsWith("video/")) media = h("video", { src: reg.previewUrl, controls: true, class: "preview" });
  return h("div", { class: "file-info" }, info, media);
}

function attrRows() {
  return reg.attrs.map((a, i) => {
    const n = i + 1;
    return h("div", { class: "attr-row" },
      h("label", { for: `attr-key-${i}`, class: "sr-only" }, t("register.attr.key", { n })),
      h("input", { id: `attr-key-${i}`, value: a.key, placeholder: t("register.attr.key", { n }), oninput: (e) => { a.key = e.target.value; } }),
      h("label", { for: `attr-value-${i}`, class: "sr-only" }, t("register.attr.value", { n })),
      h("input", { id: `attr-value-${i}`, value: a.value, placeholder: t("register.attr.value", { n }), oninput: (e) => { a.value = e.target.value; } }),
      h("button", { type: "button", class: "small", "aria-label": t("register.attr.remove", { n }), onclick: () => { reg.attrs.splice(i, 1); renderView(); } }, "×"));
  });
}

function registerStatus() {
  const out = [];
  if (reg.phase === "hashing") out.push(h("p", {}, t("register.hashing")));
  if (reg.local) out.push(h("p", { id: "local-hash" }, t("register.local", { hash: reg.local.hash, cid: reg.local.cid })));
  if (reg.phase === "uploading" || reg.phase === "pending") {
    const pct = reg.total ? reg.sent / reg.total : 0;
    out.push(h("label", { for: "upload-progress" }, t("register.progress", { sent: formatNumber(reg.sent), total: formatNumber(reg.total), percent: formatPercent(pct) })),
      h("progress", { id: "upload-progress", max: String(reg.total || 1), value: String(reg.sent) }));
  }
  if (reg.phase === "pending") out.push(h("p", { id: "mint-state", "data-state": "pending" }, t("state.pending")));
  if (reg.asset) {
    const a = reg.asset;
    out.push(h("p", { id: "mint-state", "data-state": a.final ? "final" : a.status }, stateText(a)),
      assetDetails(a),
      h("p", {}, certLink(a)));
    if (rc.hash === a.content_hash) out.push(receiptBox(a));
  }
  if (reg.dup) {
    const date = reg.dup.registered_at ? formatDate(reg.dup.registered_at) : "—";
    out.push(h("div", { class: "notice", id: "duplicate", role: "alert", "data-onchain": String(hasToken(reg.dup)) }, h("h2", {}, t("dup.title")),
      h("p", {}, hasToken(reg.dup) ? t("dup.body", { token: formatNumber(reg.dup.token_id), owner: reg.dup.owner,
        date, block: formatNumber(reg.dup.block_number ?? 0) }) : t("dup.offchain", { owner: reg.dup.owner, date }))));
  }
  if (reg.error) out.push(errorNode(reg.error));
  return out;
}

function refreshRegisterStatus() {
  const box = document.getElementById("register-status");
  const focused = document.activeElement && box && box.contains(document.activeElement) ? document.activeElement.id : null;
  if (box) clear(box, registerStatus());
  if (focused) document.getElementById(focused)?.focus();
}

// ---------------------------------------------------------------- off-chain: receipt, check, mint from the log
const rc = { hash: null, receipt: null, result: null, key: "", error: null, minting: false, mintError: null };
const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

/** The receipt checker (receipt.js) is loaded only when a receipt is to be checked. */
async function verifyReceipt(...args) {
  const m = await import("./receipt.js");
  return m.verifyReceipt(...args);
}

let logPromise = null;
/** The log's origin and verifier key (GET /v1/log), cached. */
function logInfo() {
  logPromise ??= api("/v1/log").catch((e) => {
    logPromise = null;
    throw e;
  });
  return logPromise;
}

function receiptName(hash) {
  return `nftreg-receipt-${hash.slice(2, 18)}.json`;
}

function shellQuote(s) {
  return `'${String(s).replace(/'/g, "'\\''")}'`;
}

/** Verified / NOT verified (with the reason) / signature not checked: never "verified" unless it was. */
function receiptVerdict(r, id) {
  if (!r) return h("p", { id, "data-verified": "checking" }, t("receipt.checking"));
  if (r.ok) return h("p", { id, class: "ok", "data-verified": "true" }, t("receipt.ok", { index: formatNumber(r.index), origin: r.origin, size: formatNumber(r.size) }));
  if (r.error) {
    const params = Object.fromEntries(Object.entries(r.error.params).map(([k, v]) => [k, typeof v === "number" ? formatNumber(v) : v]));
    return h("p", { id, class: "bad", "data-verified": "false", "data-reason": r.error.code }, t("receipt.bad", { reason: t(`receipt.err.${r.error.code}`, params) }));
  }
  return h("p", { id, class: "bad", "data-verified": "unchecked" }, t("receipt.unchecked"));
}

function keyField(id, value, onInput) {
  return [h("label", { for: id }, t("receipt.key")),
    h("input", { id, class: "mono", value, autocomplete: "off", spellcheck: "false", "aria-describedby": `${id}-hint`, oninput: (e) => onInput(e.target.value) }),
    h("p", { class: "hint", id: `${id}-hint` }, t("receipt.keyhint"))];
}

function receiptBox(a) {
  const r = rc.receipt;
  const out = [h("h2", { id: "receipt-title" }, t("receipt.title"))];
  if (!r) out.push(h("p", { id: "receipt-waiting" }, t("receipt.waiting")));
  else {
    const origin = rc.result?.origin ?? String(r.checkpoint || "").split("\n")[0];
    const name = receiptName(a.content_hash);
    out.push(details([
      [t("receipt.index"), formatNumber(r.index), { "data-field": "log_index" }],
      [t("receipt.size"), formatNumber(r.tree_size), { "data-field": "tree_size" }],
      [t("receipt.origin"), mono(origin), { "data-field": "origin" }],
    ]),
    receiptVerdict(rc.result, "receipt-verdict"),
    keyField("receipt-key", rc.key, (v) => { rc.key = v; }),
    h("p", {}, h("button", { type: "button", id: "receipt-check", onclick: async () => { rc.result = null; refreshRegisterStatus(); await checkReceipt(); refreshRegisterStatus(); } }, t("receipt.check"))),
    h("p", {}, h("a", { href: `/v1/assets/${a.content_hash}/receipt`, download: name, id: "receipt-download" }, t("receipt.download"))),
    h("p", {}, t("receipt.cli")),
    h("pre", { id: "receipt-cli", lang: "en", tabindex: "0" }, `nftreg log verify ${name} --key ${shellQuote(rc.key)}`));
  }
  if (a.onchain === false && a.status === "anchored") {
    const s = session();
    if (s && s.address.toLowerCase() === a.owner.toLowerCase()) {
      out.push(h("p", {}, t("mintlog.hint")),
        h("button", { type: "button", id: "mint-from-log", disabled: rc.minting, onclick: mintFromLog }, t("mintlog.button")));
    } else {
      out.push(h("p", { class: "notice", id: "mint-from-log-owner" }, t("mintlog.owneronly", { owner: a.owner })));
    }
  }
  if (rc.minting) out.push(h("p", { role: "status" }, t("mintlog.busy")));
  if (rc.error) out.push(errorNode(rc.error));
  if (rc.mintError) out.push(errorNode(rc.mintError));
  return h("section", { id: "receipt", class: "receipt", "aria-labelledby": "receipt-title" }, out);
}

async function checkReceipt() {
  const a = reg.asset;
  rc.result = await verifyReceipt(rc.receipt, rc.key, { content_hash: a.content_hash, owner: a.owner });
}

async function loadReceipt(a) {
  try {
    const [receipt, log] = await Promise.all([api(`/v1/assets/${a.content_hash}/receipt`), logInfo()]);
    if (rc.hash !== a.content_hash) return;
    rc.receipt = receipt;
    if (!rc.key) rc.key = log.verifier_key;
    rc.error = null;
    await checkReceipt();
  } catch (e) {
    if (!(e instanceof ApiError) || ![404, 503].includes(e.status)) rc.error = e; // 404: not integrated yet
  }
  refreshRegisterStatus();
}

/** An off-chain registration: follow logging → logged → anchored, fetch and check its receipt. */
async function followLog(hash) {
  for (let i = 0; i < 3600; i++) {
    const a = reg.asset;
    if (!a || a.content_hash !== hash || a.onchain !== false) return;
    if (a.status !== "logging" && !rc.receipt) await loadReceipt(a);
    if (a.status === "anchored" && rc.receipt) return;
    await sleep(a.status === "logging" || !rc.receipt ? 500 : 1000);
    let b;
    try {
      b = await api(`/v1/assets/${hash}`);
    } catch (e) {
      if (e instanceof ApiError && [404, 503].includes(e.status)) continue;
      throw e;
    }
    const now = reg.asset;
    if (now && now.content_hash === hash && now.onchain === false && (b.status !== now.status || b.log_index !== now.log_index)) {
      reg.asset = b;
      refreshRegisterStatus();
    }
  }
}

async function mintFromLog() {
  const a = reg.asset;
  Object.assign(rc, { minting: true, mintError: null });
  refreshRegisterStatus();
  try {
    const minted = await api(`/v1/assets/${a.content_hash}/mint-from-log`, { method: "POST", auth: true, headers: { "Idempotency-Key": crypto.randomUUID() } });
    rc.minting = false;
    if (reg.asset && reg.asset.content_hash === a.content_hash) reg.asset = minted;
    refreshRegisterStatus();
    await pollFinal(hasToken(minted) ? minted.token_id : minted.content_hash);
  } catch (e) {
    Object.assign(rc, { minting: false, mintError: e });
    refreshRegisterStatus();
  }
}

async function pollFinal(id) {
  const hash = reg.asset && reg.asset.content_hash;
  for (let i = 0; i < 240 && reg.asset && reg.asset.content_hash === hash && !reg.asset.final; i++) {
    await sleep(1000);
    try {
      const a = await api(`/v1/assets/${id}`);
      if (reg.asset && reg.asset.content_hash === hash) {
        reg.asset = a;
        refreshRegisterStatus();
      }
    } catch (e) {
      if (!(e instanceof ApiError) || e.status !== 503) throw e;
    }
  }
}

async function submitRegister(e) {
  e.preventDefault();
  Object.assign(reg, { error: null, dup: null, asset: null, local: null, sent: 0, total: 0 });
  if (!session()) reg.error = new Error(t("wallet.needed"));
  else if (!reg.file) reg.error = new Error(t("register.needfile"));
  else if (!nfc(reg.name)) reg.error = new Error(t("register.needname"));
  if (reg.error) return refreshRegisterStatus();
  Object.assign(rc, { hash: null, receipt: null, result: null, error: null, minting: false, mintError: null });
  const meta = { name: nfc(reg.name) };
  if (nfc(reg.description)) meta.description = nfc(reg.description);
  const attrs = reg.attrs.filter((a) => nfc(a.key)).map((a) => ({ trait_type: nfc(a.key), value: nfc(a.value) }));
  if (attrs.length) meta.attributes = attrs;
  const form = new FormData();
  form.append("metadata", JSON.stringify(meta));
  if (reg.offchain) form.append("onchain", "false");
  try {
    if (reg.private) {
      if (reg.file.size > MAX_LOCAL_HASH) throw new Error(t("err.toolarge.local", { size: formatBytes(reg.file.size) }));
      reg.phase = "hashing";
      refreshRegisterStatus();
      const info = await serverInfo();
      const [hash, cid] = await Promise.all([contentHash(reg.file), cidOf(reg.file, info.ipfs_profile)]);
      reg.local = { hash, cid };
      form.append("content_hash", hash);
      form.append("asset_cid", cid);
    } else {
      form.append("file", reg.file, reg.file.name);
    }
    reg.phase = "uploading";
    refreshRegisterStatus();
    const asset = await upload("/v1/assets", form, (sent, total) => {
      reg.sent = sent;
      reg.total = total;
      if (total && sent >= total) reg.phase = "pending";
      refreshRegisterStatus();
    });
    // done: keep the result, clear the form for the next asset
    Object.assign(reg, { phase: null, asset, file: null, name: "", description: "", attrs: [{ key: "", value: "" }], private: false, offchain: false });
    if (reg.previewUrl) URL.revokeObjectURL(reg.previewUrl);
    reg.previewUrl = null;
    if (asset.onchain === false) rc.hash = asset.content_hash;
    renderView();
    if (asset.onchain === false) await followLog(asset.content_hash);
    else await pollFinal(asset.token_id);
  } catch (err) {
    reg.phase = null;
    if (err instanceof ApiError && err.status === 409 && typeof err.problem.token_id === "number") {
      try {
        reg.dup = await api(`/v1/assets/${Number(err.problem.token_id)}`);
      } catch {
        reg.dup = { token_id: err.problem.token_id, owner: "?", block_number: null };
      }
    } else if (err instanceof ApiError && err.status === 409 && err.problem.registered === "offchain" && reg.file) {
      // registered off-chain (no token): who holds it, by the content hash computed here
      try {
        reg.dup = await api(`/v1/assets/${await contentHash(reg.file)}`);
      } catch {
        reg.error = err;
      }
    } else {
      reg.error = err;
    }
    refreshRegisterStatus();
  }
}

function viewRegister() {
  const busy = reg.phase !== null;
  return h("section", { "aria-labelledby": "view-title" },
    viewTitle("register.title"),
    session() ? null : h("p", { class: "notice" }, t("wallet.needed")),
    h("form", { id: "register-form", onsubmit: submitRegister, novalidate: true },
      fileInput("register-file", "file.choose", (f) => {
        if (reg.previewUrl) URL.revokeObjectURL(reg.previewUrl);
        reg.previewUrl = null;
        reg.file = f;
        renderView();
      }),
      preview(),
      h("label", { for: "reg-name" }, t("register.name")),
      h("input", { id: "reg-name", value: reg.name, required: true, oninput: (e) => { reg.name = e.target.value; } }),
      h("label", { for: "reg-desc" }, t("register.description")),
      h("textarea", { id: "reg-desc", rows: "3", oninput: (e) => { reg.description = e.target.value; } }, reg.description),
      h("fieldset", {}, h("legend", {}, t("register.attributes")), attrRows(),
        h("button", { type: "button", class: "small", onclick: () => { reg.attrs.push({ key: "", value: "" }); renderView(); } }, t("register.attr.add"))),
      h("div", { class: "check" },
        h("input", { type: "checkbox", id: "reg-private", checked: reg.private, onchange: (e) => { reg.private = e.target.checked; } }),
        h("label", { for: "reg-private" }, t("register.private"))),
      h("div", { class: "check" },
        h("input", { type: "checkbox", id: "reg-offchain", checked: reg.offchain, "aria-describedby": "reg-offchain-hint", onchange: (e) => { reg.offchain = e.target.checked; } }),
        h("label", { for: "reg-offchain" }, t("register.offchain"))),
      h("p", { class: "hint", id: "reg-offchain-hint" }, t("register.offchain.hint")),
      h("button", { type: "submit", id: "register-submit", disabled: busy }, t("register.submit"))),
    h("div", { id: "register-status", "aria-live": "polite" }, registerStatus()));
}

// ---------------------------------------------------------------- lookup
const look = { file: null, hash: null, asset: null, missing: false, error: null, busy: false };

async function lookupHash(hash) {
  Object.assign(look, { hash, asset: null, missing: false, error: null, busy: true });
  renderView();
  try {
    // by content hash: minted, pending, or registered off-chain (no token yet)
    let a = null;
    try {
      a = await api(`/v1/assets/${encodeURIComponent(hash)}`);
    } catch (e) {
      if (!(e instanceof ApiError) || e.status !== 404) throw e;
    }
    look.asset = a && a.status !== "failed" ? a : null;
    look.missing = !look.asset;
    if (look.asset) look.info = await serverInfo();
  } catch (e) {
    look.error = e;
  }
  look.busy = false;
  renderView();
}

function viewLookup(params) {
  const q = params.get("hash");
  if (q && q !== look.hash && !look.busy) queueMicrotask(() => lookupHash(q));
  const out = [];
  if (look.busy) out.push(h("p", {}, t("busy")));
  if (look.asset) {
    const a = look.asset;
    out.push(h("p", { id: "lookup-result", "data-found": "yes", "data-onchain": String(hasToken(a)) }, hasToken(a)
      ? t("lookup.found", { token: formatNumber(a.token_id), owner: a.owner, block: formatNumber(a.block_number) })
      : t("lookup.found.offchain", { owner: a.owner })),
    assetDetails(a));
    if (look.info && hasToken(a)) out.push(h("p", {}, t("lookup.onchain", { token: a.token_id, contract: look.info.registry, chain: look.info.chain_id })));
    out.push(h("p", {}, certLink(a)));
  }
  if (look.missing) out.push(h("p", { id: "lookup-result", "data-found": "no" }, t("lookup.notfound", { hash: look.hash })));
  if (look.error) out.push(errorNode(look.error));
  return h("section", { "aria-labelledby": "view-title" },
    viewTitle("lookup.title"),
    h("p", {}, t("lookup.intro")),
    fileInput("lookup-file", "file.choose", async (f) => {
      look.file = f;
      try {
        await lookupHash(await contentHash(f));
      } catch (e) {
        look.error = e;
        renderView();
      }
    }),
    h("div", { id: "lookup-status", "aria-live": "polite" }, out));
}

// ---------------------------------------------------------------- my assets
const mine = { owner: null, items: [], next: null, error: null, loaded: false };

async function loadAssets(more) {
  const s = session();
  if (!s) return;
  if (mine.owner !== s.address || !more) Object.assign(mine, { owner: s.address, items: [], next: null });
  try {
    const cursor = more && mine.next ? `&cursor=${encodeURIComponent(mine.next)}` : "";
    const page = await api(`/v1/assets?owner=${encodeURIComponent(s.address)}&limit=20${cursor}`);
    mine.items.push(...page.items);
    mine.next = page.next_cursor;
    mine.error = null;
  } catch (e) {
    mine.error = e;
  }
  mine.loaded = true;
  renderView();
}

function viewAssets() {
  const s = session();
  if (!s) return h("section", { "aria-labelledby": "view-title" }, viewTitle("assets.title"), h("p", { class: "notice" }, t("wallet.needed")));
  if (mine.owner !== s.address || !mine.loaded) queueMicrotask(() => loadAssets(false));
  const rows = mine.items.map((a) => h("tr", {},
    h("td", {}, hasToken(a) ? formatNumber(a.token_id) : "—"),
    h("td", {}, metadataBox(a.metadata_cid)),
    h("td", {}, mono(a.content_hash.slice(0, 18) + "…")),
    h("td", {}, stateText(a)),
    h("td", {}, a.asset_cid ? h("a", { href: `/ipfs/${encodeURIComponent(a.asset_cid)}` }, "IPFS") : "—", " ",
      certLink(a))));
  return h("section", { "aria-labelledby": "view-title" },
    viewTitle("assets.title"),
    mine.items.length === 0 && mine.loaded ? h("p", {}, t("assets.none")) : null,
    mine.items.length ? h("div", { class: "table-wrap" }, h("table", { id: "assets-table" },
      h("caption", {}, t("assets.count", { count: formatNumber(mine.items.length) })),
      h("thead", {}, h("tr", {}, [t("asset.token"), t("register.name"), t("asset.hash"), t("asset.status"), t("asset.links")].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows))) : null,
    mine.next ? h("button", { type: "button", onclick: () => loadAssets(true) }, t("assets.more")) : null,
    mine.error ? errorNode(mine.error) : null);
}

// ---------------------------------------------------------------- certificate
const cert = { id: null, asset: null, info: null, error: null, printed: null };

function lookupLink(a) {
  return `${location.origin}/#/lookup?hash=${a.content_hash}`;
}

function certBundle(a, info) {
  return {
    format: "nftreg-certificate-v1",
    token_id: a.token_id, owner: a.owner, content_hash: a.content_hash, asset_cid: a.asset_cid,
    metadata_cid: a.metadata_cid, token_uri: a.token_uri, tx_hash: a.tx_hash, block_number: a.block_number,
    final: a.final, contract: info.registry, chain_id: info.chain_id, lookup: lookupLink(a),
    check: `ownerOf(${a.token_id}) == owner and contentHashOf(${a.token_id}) == content_hash on contract ${info.registry}, chain ${info.chain_id}`,
  };
}

async function loadCert(id) {
  Object.assign(cert, { id, asset: null, error: null, printed: new Date() });
  try {
    [cert.asset, cert.info] = await Promise.all([api(`/v1/assets/${id}`), serverInfo()]);
  } catch (e) {
    cert.error = e;
  }
  renderView();
}

function viewCert(id) {
  if (cert.id !== id) queueMicrotask(() => loadCert(id));
  const a = cert.asset;
  if (!a || cert.id !== id) return h("section", { "aria-labelledby": "view-title" }, viewTitle("cert.title"), cert.error ? errorNode(cert.error) : h("p", {}, t("busy")));
  const link = lookupLink(a);
  return h("section", { "aria-labelledby": "view-title", class: "certificate", id: "certificate" },
    viewTitle("cert.title"),
    h("p", {}, t("cert.intro")),
    metadataBox(a.metadata_cid),
    details([
      [t("asset.token"), formatNumber(a.token_id), { "data-field": "token_id" }],
      [t("asset.owner"), mono(a.owner), { "data-field": "owner" }],
      [t("asset.hash"), mono(a.content_hash), { "data-field": "content_hash" }],
      [t("asset.cid"), a.asset_cid ? mono(a.asset_cid) : null],
      [t("asset.metadata"), mono(a.metadata_cid)],
      [t("asset.tx"), a.tx_hash ? mono(a.tx_hash) : null],
      [t("asset.block"), formatNumber(a.block_number)],
      [t("asset.status"), stateText(a)],
      [t("cert.contract"), mono(cert.info.registry), { "data-field": "contract" }],
      [t("cert.chain"), String(cert.info.chain_id), { "data-field": "chain_id" }],
      [t("cert.issued"), formatDate(cert.printed), { "data-field": "printed" }],
      [t("cert.lookup"), h("a", { href: link, class: "mono" }, link), { "data-field": "lookup" }],
    ]),
    h("figure", { class: "qr" }, qrSvg(link, t("cert.qr")), h("figcaption", {}, t("cert.qr"))),
    h("p", { class: "no-print" },
      h("button", { type: "button", id: "cert-print", onclick: () => window.print() }, t("cert.print")), " ",
      h("button", { type: "button", id: "cert-json", onclick: () => download(new Blob([JSON.stringify(certBundle(a, cert.info), null, 2)], { type: "application/json" }), `nftreg-certificate-${a.token_id}.json`) }, t("cert.json"))));
}

// ---------------------------------------------------------------- batches
const batch = { key: "", file: null, result: null, error: null, busy: false, proof: null, proofError: null, id: "", query: "" };

async function submitBatch(e) {
  e.preventDefault();
  Object.assign(batch, { result: null, error: null, busy: true });
  renderView();
  try {
    if (!batch.file) throw new Error(t("register.needfile"));
    const type = /\.csv$/i.test(batch.file.name) ? "text/csv" : "application/x-ndjson";
    batch.result = await api("/v1/batches", { method: "POST", raw: batch.file, headers: { "Content-Type": type, "X-API-Key": batch.key, "Idempotency-Key": crypto.randomUUID() } });
    batch.id = String(batch.result.id);
  } catch (err) {
    batch.error = err;
  }
  batch.busy = false;
  renderView();
}

async function findProof(e) {
  e.preventDefault();
  Object.assign(batch, { proof: null, proofError: null });
  try {
    batch.proof = await api(`/v1/batches/${encodeURIComponent(batch.id.trim())}/proofs/${encodeURIComponent(batch.query.trim())}`);
  } catch (err) {
    batch.proofError = err;
  }
  renderView();
}

function viewBatches() {
  const r = batch.result;
  const proofText = batch.proof ? JSON.stringify(batch.proof, null, 2) : null;
  return h("section", { "aria-labelledby": "view-title" },
    viewTitle("batch.title"),
    h("p", {}, t("batch.intro")),
    h("form", { id: "batch-form", onsubmit: submitBatch },
      h("label", { for: "batch-key" }, t("batch.key")),
      h("input", { id: "batch-key", type: "password", autocomplete: "off", value: batch.key, oninput: (e) => { batch.key = e.target.value; } }),
      fileInput("batch-file", "batch.file", (f) => { batch.file = f; renderView(); }, ".csv,.jsonl,.ndjson,text/csv,application/x-ndjson"),
      batch.file ? h("p", {}, t("file.chosen", { name: batch.file.name, size: formatBytes(batch.file.size) })) : null,
      h("button", { type: "submit", id: "batch-submit", disabled: batch.busy }, t("batch.submit"))),
    h("div", { id: "batch-status", "aria-live": "polite" },
      batch.busy ? h("p", {}, t("busy")) : null,
      r ? [h("p", { id: "batch-result" }, t("batch.result", { id: r.id, size: formatNumber(r.size) })),
        details([[t("batch.root"), mono(r.root), { "data-field": "root" }], [t("batch.treecid"), gatewayLink(r.tree_cid)],
          [t("batch.anchor"), r.tx_hash ? mono(r.tx_hash) : null, { "data-field": "tx_hash" }], [t("asset.status"), r.final ? t("state.final") : r.status]])] : null,
      batch.error ? errorNode(batch.error) : null),
    h("h2", {}, t("batch.lookup")),
    h("form", { id: "proof-form", onsubmit: findProof, class: "inline" },
      h("label", { for: "proof-batch" }, t("batch.id")),
      h("input", { id: "proof-batch", inputmode: "numeric", value: batch.id, oninput: (e) => { batch.id = e.target.value; } }),
      h("label", { for: "proof-query" }, t("batch.query")),
      h("input", { id: "proof-query", value: batch.query, oninput: (e) => { batch.query = e.target.value; } }),
      h("button", { type: "submit", id: "proof-find" }, t("batch.find"))),
    h("div", { id: "proof-status", "aria-live": "polite" },
      batch.proof ? [h("p", { id: "proof-count" }, t("batch.proofs", { count: formatNumber(batch.proof.proofs.length) })),
        h("pre", { id: "proof-json", tabindex: "0", lang: "en" }, proofText),
        h("button", { type: "button", onclick: async (e) => { await navigator.clipboard.writeText(proofText); e.target.textContent = t("batch.copied"); } }, t("batch.copy")), " ",
        h("button", { type: "button", onclick: () => download(new Blob([proofText], { type: "application/json" }), `batch-${batch.proof.batch_id}-proof.json`) }, t("batch.download"))] : null,
      batch.proofError ? errorNode(batch.proofError) : null));
}

// ---------------------------------------------------------------- verify
const ver = { file: null, worker: null, done: 0, bytes: 0, result: null, error: null };

function startVerify() {
  if (!ver.file) return;
  ver.worker?.terminate();
  Object.assign(ver, { done: 0, bytes: 0, result: null, error: null });
  const worker = new Worker("/web/js/verify-worker.js");
  ver.worker = worker;
  worker.addEventListener("message", (e) => {
    const m = e.data;
    if (m.type === "progress") Object.assign(ver, { done: m.done, bytes: m.bytesRead });
    if (m.type === "done") {
      ver.result = m;
      ver.worker = null;
      worker.terminate();
    }
    if (m.type === "error") {
      ver.error = new ApiError(m.status, m.problem);
      ver.worker = null;
      worker.terminate();
    }
    if (m.type === "cancelled") ver.worker = null;
    refreshVerify();
  });
  worker.postMessage({ type: "start", file: ver.file });
  renderView();
}

function verifyStatus() {
  const out = [];
  if (ver.worker || ver.done) out.push(h("p", { id: "verify-progress" }, t("verify.progress", { done: formatNumber(ver.done), bytes: formatBytes(ver.bytes) })));
  if (ver.worker && ver.file) out.push(h("progress", { max: String(ver.file.size || 1), value: String(ver.bytes), "aria-label": t("verify.file") }));
  const r = ver.result;
  if (r) {
    out.push(h("p", { id: "verify-summary", "data-count": r.count, "data-invalid": r.invalidCount, "data-seconds": r.seconds.toFixed(3) },
      t("verify.summary", { count: formatNumber(r.count), valid: formatNumber(r.valid), invalid: formatNumber(r.invalidCount), seconds: formatNumber(Number(r.seconds.toFixed(2))) })));
    if (r.invalid.length) {
      out.push(h("h2", {}, t("verify.invalid")), h("ul", { id: "verify-invalid" }, r.invalid.map((x) => h("li", { "data-line": x.line },
        x.error ? t("verify.line.error", { line: formatNumber(x.line), error: x.error }) : t("verify.line", { line: formatNumber(x.line) })))));
      if (r.invalidCount > r.invalid.length) out.push(h("p", {}, t("verify.more", { count: formatNumber(r.invalidCount - r.invalid.length) })));
    }
    out.push(h("button", { type: "button", id: "verify-download", onclick: () => download(r.download, "verify-results.jsonl") }, t("verify.download")));
  }
  if (ver.error) out.push(errorNode(ver.error));
  return out;
}

function refreshVerify() {
  const box = document.getElementById("verify-status");
  if (box) clear(box, verifyStatus());
  const start = document.getElementById("verify-start");
  if (start) start.disabled = Boolean(ver.worker) || !ver.file;
}

const vr = { key: "", name: null, receipt: null, result: null, error: null };

async function checkReceiptFile() {
  vr.result = null;
  refreshReceiptFile();
  if (!vr.receipt) return;
  vr.result = await verifyReceipt(vr.receipt, vr.key);
  refreshReceiptFile();
}

function receiptFileStatus() {
  const out = [];
  if (vr.name) out.push(h("p", {}, vr.name));
  if (vr.receipt) out.push(receiptVerdict(vr.result, "receipt-file-verdict"));
  if (vr.error) out.push(errorNode(vr.error));
  return out;
}

function refreshReceiptFile() {
  const box = document.getElementById("receipt-file-status");
  if (box) clear(box, receiptFileStatus());
}

function receiptChecker() {
  if (!vr.key && !vr.error) {
    queueMicrotask(() => logInfo().then((l) => {
      if (!vr.key) {
        vr.key = l.verifier_key;
        const input = document.getElementById("receipt-file-key");
        if (input && !input.value) input.value = vr.key;
      }
    }, (e) => { vr.error = e; refreshReceiptFile(); }));
  }
  return [h("h2", { id: "receipt-check-title" }, t("verify.receipt.title")),
    h("p", {}, t("verify.receipt.intro")),
    fileInput("receipt-file", "verify.receipt.file", async (f) => {
      Object.assign(vr, { name: f.name, receipt: null, result: null, error: null });
      try {
        vr.receipt = JSON.parse(await f.text());
      } catch {
        vr.receipt = "not json"; // verifyReceipt says: not a JSON receipt
      }
      await checkReceiptFile();
    }, ".json,application/json"),
    keyField("receipt-file-key", vr.key, (v) => { vr.key = v; }),
    h("p", {}, h("button", { type: "button", id: "receipt-file-check", onclick: checkReceiptFile }, t("verify.receipt.check"))),
    h("div", { id: "receipt-file-status", "aria-live": "polite" }, receiptFileStatus())];
}

function viewVerify() {
  return h("section", { "aria-labelledby": "view-title" },
    viewTitle("verify.title"),
    h("p", {}, t("verify.intro")),
    fileInput("verify-file", "verify.file", (f) => { ver.file = f; renderView(); }, ".jsonl,.ndjson,.json,application/x-ndjson"),
    ver.file ? h("p", {}, t("file.chosen", { name: ver.file.name, size: formatBytes(ver.file.size) })) : null,
    h("p", {},
      h("button", { type: "button", id: "verify-start", disabled: Boolean(ver.worker) || !ver.file, onclick: startVerify }, t("verify.start")), " ",
      h("button", { type: "button", id: "verify-cancel", disabled: !ver.worker, onclick: () => ver.worker?.postMessage({ type: "cancel" }) }, t("verify.cancel"))),
    h("div", { id: "verify-status", "aria-live": "polite" }, verifyStatus()),
    receiptChecker());
}

// ---------------------------------------------------------------- prove ownership
const prove = { token: "", challenge: null, verdict: null, error: null, busy: false };

async function requestChallenge(e) {
  e.preventDefault();
  Object.assign(prove, { challenge: null, verdict: null, error: null });
  try {
    prove.challenge = await api("/v1/ownership/challenge", { method: "POST", body: { token_id: Number(prove.token.trim()) } });
  } catch (err) {
    prove.error = err;
  }
  renderView();
}

async function signChallenge() {
  prove.busy = true;
  prove.error = null;
  renderView();
  try {
    const w = pickWallet()[0] && (acct.wallet || pickWallet()[0]);
    if (!w) throw new Error(t("wallet.none"));
    const address = await account(w.provider);
    const signature = await personalSign(w.provider, address, prove.challenge.message);
    prove.verdict = await api("/v1/ownership/verify", { method: "POST", body: { nonce: prove.challenge.nonce, signature } });
  } catch (err) {
    prove.error = err;
  }
  prove.busy = false;
  renderView();
}

function viewProve() {
  const c = prove.challenge;
  const v = prove.verdict;
  return h("section", { "aria-labelledby": "view-title" },
    viewTitle("prove.title"),
    h("p", {}, t("prove.intro")),
    h("form", { id: "prove-form", onsubmit: requestChallenge, class: "inline" },
      h("label", { for: "prove-token" }, t("prove.token")),
      h("input", { id: "prove-token", inputmode: "numeric", value: prove.token, oninput: (e) => { prove.token = e.target.value; } }),
      h("button", { type: "submit", id: "prove-request" }, t("prove.request"))),
    h("div", { id: "prove-status", "aria-live": "polite" },
      c ? [h("p", {}, t("prove.message")), h("pre", { id: "prove-message", lang: "en" }, c.message),
        h("p", {}, t("prove.expires", { time: formatDate(c.expires_at) })),
        v ? null : h("button", { type: "button", id: "prove-sign", disabled: prove.busy || wallets().length === 0, onclick: signChallenge }, t("prove.sign"))] : null,
      v ? h("p", { id: "prove-verdict", "data-verified": String(v.verified), class: v.verified ? "ok" : "bad" },
        v.verified ? t("prove.yes", { signer: v.signer, token: formatNumber(v.token_id) }) : t("prove.no", { signer: v.signer || "—", owner: v.owner })) : null,
      prove.error ? errorNode(prove.error) : null));
}

// ---------------------------------------------------------------- shell and routing
const ROUTES = { register: viewRegister, lookup: viewLookup, assets: viewAssets, batches: viewBatches, verify: viewVerify, prove: viewProve };
let current = "register";

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, query = ""] = raw.split("?");
  return { parts: path.split("/").filter(Boolean), params: new URLSearchParams(query) };
}

function renderView() {
  const { parts, params } = parseHash();
  const name = parts[0] || "register";
  let node;
  if (name === "cert" && /^\d+$/.test(parts[1] || "")) node = viewCert(parts[1]);
  else node = (ROUTES[name] || viewRegister)(params);
  current = ROUTES[name] ? name : name === "cert" ? "assets" : "register";
  const focused = document.activeElement && document.activeElement.id;
  clear(main, node);
  main.dataset.route = parts.join("/") || "register";
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.dataset.route === current) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (focused) document.getElementById(focused)?.focus();
}

function route() {
  renderView();
  document.getElementById("view-title")?.focus();
}

function renderShell() {
  document.title = t("app.title");
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll("[data-i18n-label]")) el.setAttribute("aria-label", t(el.dataset.i18nLabel));
  const cal = document.getElementById("calendar");
  cal.value = calendar();
  document.getElementById("lang").value = lang();
  renderAccount();
}

function init() {
  setLang(lang());
  document.getElementById("lang").addEventListener("change", (e) => {
    setLang(e.target.value);
    setCalendar(e.target.value === "th" ? "buddhist" : "gregory");
    renderShell();
    renderView();
  });
  document.getElementById("calendar").addEventListener("change", (e) => {
    setCalendar(e.target.value);
    renderShell();
    renderView();
  });
  discover(() => renderAccount());
  window.addEventListener("hashchange", route);
  renderShell();
  renderView();
  // a provider injected late (some extensions) still gets found
  setTimeout(renderAccount, 500);
}

init();
