/**
 * The native fan-out of a Durable Object: the hub's groups as topics over the
 * object's sockets, published with one loop of native sends. Membership of a group
 * is kept in the socket's attachment too (tags are fixed at accept, groups are
 * not), so the object rebuilds it after eviction.
 *
 * @module
 */
import type { EngineTopics } from "@uniws/core";
import type { WorkerdWebSocket } from "./workerd.ts";

/** The topics of one object: the pub/sub domain its sockets share. */
export class ObjectTopics {
  readonly #subscribers = new Map<string, Set<WorkerdWebSocket>>();

  /** The topics of one socket; `groupsChanged` persists its group list. */
  forSocket(socket: WorkerdWebSocket, groups: string[], groupsChanged: () => void): EngineTopics {
    const registry = this;
    return {
      domain: registry,
      subscribe(topic: string, group?: string): void {
        registry.#set(topic).add(socket);
        if (group !== undefined && !groups.includes(group)) {
          groups.push(group);
          groupsChanged();
        }
      },
      unsubscribe(topic: string, group?: string): void {
        const members = registry.#subscribers.get(topic);
        members?.delete(socket);
        if (members?.size === 0) registry.#subscribers.delete(topic);
        const at = group === undefined ? -1 : groups.indexOf(group);
        if (at !== -1) {
          groups.splice(at, 1);
          groupsChanged();
        }
      },
      publish(topic: string, data: string | Uint8Array): void {
        for (const member of registry.#subscribers.get(topic) ?? []) {
          try {
            member.send(data);
          } catch {
            // Closed under us: its close event removes it from the hub; the others still get the message.
          }
        }
      },
    };
  }

  #set(topic: string): Set<WorkerdWebSocket> {
    let members = this.#subscribers.get(topic);
    if (members === undefined) this.#subscribers.set(topic, (members = new Set()));
    return members;
  }
}
