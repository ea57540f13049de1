// Wallets: EIP-6963 discovery (window.ethereum as the fallback), EIP-4361 sign-in messages,
// personal_sign. Nothing here holds a key.

import { checksumAddress } from "./keccak.js";

const found = new Map();

export function discover(onChange) {
  window.addEventListener("eip6963:announceProvider", (event) => {
    const d = event.detail;
    if (!d || !d.info || !d.provider || typeof d.provider.request !== "function") return;
    found.set(String(d.info.uuid || d.info.rdns || d.info.name), { name: String(d.info.name || "wallet"), provider: d.provider });
    onChange();
  });
  window.dispatchEvent(new Event("eip6963:requestProvider"));
}

/** The wallets this page can use: announced ones first, then window.ethereum. */
export function wallets() {
  const list = [...found.values()];
  if (list.length === 0 && window.ethereum && typeof window.ethereum.request === "function") {
    list.push({ name: "window.ethereum", provider: window.ethereum });
  }
  return list;
}

function utf8Hex(text) {
  return "0x" + Array.from(new TextEncoder().encode(text), (b) => b.toString(16).padStart(2, "0")).join("");
}

export async function account(provider) {
  const accounts = await provider.request({ method: "eth_requestAccounts", params: [] });
  if (!Array.isArray(accounts) || accounts.length === 0) throw new Error("the wallet shared no account");
  return checksumAddress(String(accounts[0]));
}

export async function chainId(provider) {
  return Number.parseInt(await provider.request({ method: "eth_chainId", params: [] }), 16);
}

/** EIP-191 personal_sign of a UTF-8 text by `address`. */
export async function personalSign(provider, address, text) {
  return provider.request({ method: "personal_sign", params: [utf8Hex(text), address] });
}

/** The EIP-4361 message, field for field. */
export function siweMessage({ domain, address, statement, uri, chainId, nonce, issuedAt, expirationTime }) {
  return [
    `${domain} wants you to sign in with your Ethereum account:`,
    address,
    "",
    statement,
    "",
    `URI: ${uri}`,
    "Version: 1",
    `Chain ID: ${chainId}`,
    `Nonce: ${nonce}`,
    `Issued At: ${issuedAt}`,
    `Expiration Time: ${expirationTime}`,
  ].join("\n");
}
