/**
 * Sharing the strings an open connection keeps from its request.
 *
 * @module
 */

/**
 * Gives out one copy of a string that requests repeat. A runtime makes new strings for
 * each request (Node's parser for its target and `Host` value, Bun and Deno for the URL
 * of a `Request`), and a connection that keeps one for its whole life keeps its own copy,
 * 30–60 bytes each, where most connections' are alike. `share` answers an equal string
 * with the one it saw last. It holds that one string only: it never grows.
 */
export class RepeatedText {
  #last = "";

  /**
   * `text`, or the equal string given before it.
   * @param text a string to keep, or `undefined` (a value the request did not have), given back as is
   * @returns a string equal to `text` (the same characters): the last one seen when equal, else `text`
   */
  share<Text extends string | undefined>(text: Text): Text;
  share(text: string | undefined): string | undefined {
    if (text === undefined) return undefined;
    if (text === this.#last) return this.#last;
    this.#last = text;
    return text;
  }
}
