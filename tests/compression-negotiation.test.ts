/**
 * permessage-deflate negotiation (RFC 7692 §7.1) as a pure function: the same on
 * every runtime. Vectors from ASP.NET Core's HandshakeTests and
 * WebSocketCompressionMiddlewareTests, adapted where RFC 7692 is stricter.
 */
import { describe, expect, test } from "vitest";
import { type CompressionRequest, negotiatePerMessageDeflate } from "@uniws/core";

const DEFAULTS: CompressionRequest = { serverMaxWindowBits: 15, serverContextTakeover: true };
const CUSTOM: CompressionRequest = { serverMaxWindowBits: 14, serverContextTakeover: false };

function answer(offers: string | null, request: CompressionRequest = DEFAULTS): string | undefined {
  const result = negotiatePerMessageDeflate(offers, request);
  return result.accepted ? result.header : undefined;
}

describe("permessage-deflate negotiation", () => {
  // HandshakeTests.CompressionNegotiationProducesCorrectHeaderWithDefaultOptions
  test.each([
    ["permessage-deflate", "permessage-deflate"],
    ["permessage-deflate; server_no_context_takeover", "permessage-deflate; server_no_context_takeover"],
    ["permessage-deflate; client_no_context_takeover", "permessage-deflate; client_no_context_takeover"],
    ["permessage-deflate; client_max_window_bits=9", "permessage-deflate; client_max_window_bits=9"],
    ['permessage-deflate; client_max_window_bits="9"', "permessage-deflate; client_max_window_bits=9"],
    ["permessage-deflate; client_max_window_bits", "permessage-deflate; client_max_window_bits=15"],
    ["permessage-deflate; server_max_window_bits=10", "permessage-deflate; server_max_window_bits=10"],
    [
      "permessage-deflate; server_max_window_bits=10; server_no_context_takeover",
      "permessage-deflate; server_no_context_takeover; server_max_window_bits=10",
    ],
    [
      "permessage-deflate; server_max_window_bits=10; server_no_context_takeover; client_no_context_takeover; client_max_window_bits=12",
      "permessage-deflate; client_no_context_takeover; client_max_window_bits=12; server_no_context_takeover; server_max_window_bits=10",
    ],
  ])("Negotiate_DefaultOptions_%s", (offer, expected) => {
    expect(answer(offer)).toBe(expected);
  });

  // HandshakeTests.CompressionNegotiationProducesCorrectHeaderWithCustomOptions
  test.each([
    ["permessage-deflate", "permessage-deflate; server_no_context_takeover; server_max_window_bits=14"],
    ["permessage-deflate; client_max_window_bits=9", "permessage-deflate; client_max_window_bits=9; server_no_context_takeover; server_max_window_bits=14"],
    ["permessage-deflate; server_max_window_bits=10", "permessage-deflate; server_no_context_takeover; server_max_window_bits=10"],
    ["permessage-deflate; server_max_window_bits=15", "permessage-deflate; server_no_context_takeover; server_max_window_bits=14"],
  ])("Negotiate_NoTakeoverWindow14_%s", (offer, expected) => {
    expect(answer(offer, CUSTOM)).toBe(expected);
  });

  // HandshakeTests.CompressionNegotiateNotAccepted, plus RFC 7692 §7.1's other reasons to decline.
  test.each([
    "permessage-deflate; server_max_window_bits=8",
    "permessage-deflate; client_max_window_bits=8",
    "permessage-deflate; client_max_window_bits=16",
    "permessage-deflate; server_max_window_bits=16",
    'permessage-deflate; client_max_window_bits="15',
    'permessage-deflate; client_max_window_bits=14"',
    'permessage-deflate; client_max_window_bits="',
    'permessage-deflate; client_max_window_bits="13',
    "permessage-deflate; client_max_window_bits=",
    'permessage-deflate; client_max_window_bits=""',
    "permessage-deflate; client_max_window_bits=09",
    "permessage-deflate; client_max_window_bits=1O",
    "permessage-deflate; client_max_window_bits=-9",
    "permessage-deflate; client_max_window_bits=9.0",
    "permessage-deflate; client_max_window_bits=9; client_max_window_bits=10",
    "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",
    "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
    "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
    // RFC 7692 §7.1.2.1: server_max_window_bits has a value (ASP.NET Core answers =15 here).
    "permessage-deflate; server_max_window_bits",
    "permessage-deflate; server_no_context_takeover=true",
    "permessage-deflate; client_no_context_takeover=1",
    // RFC 7692 §7.1: unknown parameters decline the offer (ASP.NET Core ignores them).
    "permessage-deflate; unknown_parameter",
    "permessage-deflate; mem_level=8",
    "permessage-deflate;",
    "permessage-deflate; =9",
    "permessage-deflate; client max window bits",
  ])("Negotiate_Declined_%s", (offer) => {
    expect(negotiatePerMessageDeflate(offer, DEFAULTS)).toEqual({ accepted: false, reason: "no-acceptable-offer" });
  });

  // WebSocketCompressionMiddlewareTests.CompressionNegotiationCanChooseExtension
  test("Negotiate_FirstAcceptableOfferWins", () => {
    const window13: CompressionRequest = { serverMaxWindowBits: 13, serverContextTakeover: true };
    expect(answer("permessage-deflate; server_max_window_bits=14, permessage-deflate; server_max_window_bits=13", window13))
      .toBe("permessage-deflate; server_max_window_bits=13");
    const result = negotiatePerMessageDeflate("permessage-deflate; client_max_window_bits=8, permessage-deflate; client_max_window_bits=13", window13);
    expect(result).toEqual({
      accepted: true,
      header: "permessage-deflate; client_max_window_bits=13; server_max_window_bits=13",
      offerIndex: 1,
      parameters: { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 13, clientMaxWindowBits: 13 },
    });
  });

  test("Negotiate_OtherExtensionsSkipped_PermessageDeflateAfterThemAccepted", () => {
    const result = negotiatePerMessageDeflate("x-webkit-deflate-frame, permessage-foo; a=1, permessage-deflate; client_max_window_bits", DEFAULTS);
    expect(result.accepted && result.offerIndex).toBe(2);
    expect(answer("x-webkit-deflate-frame, permessage-deflate; client_max_window_bits")).toBe("permessage-deflate; client_max_window_bits=15");
  });

  test("Negotiate_FirstOfferMalformed_SecondAccepted", () => {
    expect(answer("permessage-deflate; foo, permessage-deflate; client_no_context_takeover")).toBe("permessage-deflate; client_no_context_takeover");
    expect(answer("permessage-deflate; client_max_window_bits=16,permessage-deflate")).toBe("permessage-deflate");
  });

  test("Negotiate_EveryOfferDeclined_NoAnswer", () => {
    expect(negotiatePerMessageDeflate("permessage-deflate; server_max_window_bits=8, permessage-deflate; x=1", DEFAULTS))
      .toEqual({ accepted: false, reason: "no-acceptable-offer" });
  });

  test("Negotiate_NotOffered_Declined", () => {
    expect(negotiatePerMessageDeflate(null, DEFAULTS)).toEqual({ accepted: false, reason: "not-offered" });
    expect(negotiatePerMessageDeflate(undefined, DEFAULTS)).toEqual({ accepted: false, reason: "not-offered" });
    expect(negotiatePerMessageDeflate("", DEFAULTS)).toEqual({ accepted: false, reason: "not-offered" });
    expect(negotiatePerMessageDeflate("x-webkit-deflate-frame", DEFAULTS)).toEqual({ accepted: false, reason: "not-offered" });
    // Extension names are compared exactly, as ws and python-websockets do.
    expect(negotiatePerMessageDeflate("PerMessage-Deflate", DEFAULTS)).toEqual({ accepted: false, reason: "not-offered" });
  });

  test("Negotiate_CompressionNotEnabled_DeclinedWhateverTheOffer", () => {
    expect(negotiatePerMessageDeflate("permessage-deflate", undefined)).toEqual({ accepted: false, reason: "not-enabled" });
    expect(negotiatePerMessageDeflate(null, undefined)).toEqual({ accepted: false, reason: "not-enabled" });
  });

  test("Negotiate_ClientMaxWindowBits_NeverAnsweredUnlessOffered", () => {
    for (const request of [DEFAULTS, CUSTOM, { serverMaxWindowBits: 9, serverContextTakeover: true }]) {
      for (const offer of ["permessage-deflate", "permessage-deflate; server_no_context_takeover", "permessage-deflate; server_max_window_bits=12"]) {
        expect(answer(offer, request)).not.toContain("client_max_window_bits");
      }
    }
  });

  test("Negotiate_ServerWindow_NeverAboveTheClientsLimit", () => {
    for (let server = 9; server <= 15; server++) {
      for (let client = 9; client <= 15; client++) {
        const result = negotiatePerMessageDeflate(`permessage-deflate; server_max_window_bits=${client}`, { serverMaxWindowBits: server, serverContextTakeover: true });
        const expected = Math.min(server, client);
        expect(result.accepted && result.header).toBe(`permessage-deflate; server_max_window_bits=${expected}`);
        expect(result.accepted && result.parameters.serverMaxWindowBits).toBe(expected);
      }
    }
  });

  test("Negotiate_ServerWindowBelow15_AnsweredUnasked", () => {
    expect(answer("permessage-deflate", { serverMaxWindowBits: 9, serverContextTakeover: true })).toBe("permessage-deflate; server_max_window_bits=9");
  });

  test("Negotiate_Parameters_ReportWhatIsInForce", () => {
    const result = negotiatePerMessageDeflate("permessage-deflate; client_no_context_takeover; client_max_window_bits=10", DEFAULTS);
    expect(result.accepted && result.parameters).toEqual({
      serverNoContextTakeover: false,
      clientNoContextTakeover: true,
      serverMaxWindowBits: 15,
      clientMaxWindowBits: 10,
    });
    const server = negotiatePerMessageDeflate("permessage-deflate", { serverMaxWindowBits: 11, serverContextTakeover: false });
    expect(server.accepted && server.parameters).toEqual({
      serverNoContextTakeover: true,
      clientNoContextTakeover: false,
      serverMaxWindowBits: 11,
      clientMaxWindowBits: 15,
    });
  });

  test("Negotiate_WhitespaceAndQuotes_Tolerated", () => {
    expect(answer("  permessage-deflate ;client_max_window_bits = 10 ;  server_no_context_takeover  ")).toBe(
      "permessage-deflate; client_max_window_bits=10; server_no_context_takeover",
    );
    expect(answer('permessage-deflate; server_max_window_bits="11"')).toBe("permessage-deflate; server_max_window_bits=11");
    // A quoted comma does not split offers; the value is not a token, so the offer is declined.
    expect(answer('permessage-deflate; client_max_window_bits="1,2", permessage-deflate')).toBe("permessage-deflate");
  });

  test("Negotiate_ServerMaxWindowBitsOutOfRange_Throws", () => {
    for (const bits of [8, 16, 0, 9.5, Number.NaN]) {
      expect(() => negotiatePerMessageDeflate("permessage-deflate", { serverMaxWindowBits: bits, serverContextTakeover: true })).toThrow(RangeError);
    }
  });
});
