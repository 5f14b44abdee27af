/**
 * The load cases: message size and type, connections, and messages each connection
 * keeps in flight (enough that a single socket keeps a server busy).
 *
 * @module
 */
import type { Case } from "./results.ts";

/** Small messages are text, large ones binary: what chat-like and file-like traffic send. */
export const CASES: Case[] = [
  { id: "64B-1", label: "64 B text, 1 conn", size: 64, text: true, connections: 1, inflight: 16 },
  { id: "64B-100", label: "64 B text, 100 conns", size: 64, text: true, connections: 100, inflight: 4 },
  { id: "64K-1", label: "64 KiB binary, 1 conn", size: 65_536, text: false, connections: 1, inflight: 16 },
  { id: "64K-100", label: "64 KiB binary, 100 conns", size: 65_536, text: false, connections: 100, inflight: 4 },
];
export const DEFLATE_CASE: Case = { id: "json4K-100", label: "4 KiB JSON text, 100 conns, deflate", size: 4096, text: true, connections: 100, inflight: 4 };
