/** Sending and receiving: types, parts, sizes, limits and backpressure. */
import { afterEach, describe, expect, test } from "vitest";
import { type UniWebSocket, WebSocketError } from "@uniws/core";
import { acceptOne, settlesWithin } from "./support/accepted.ts";
import { Opcode, randomBytes, RawClient } from "./support/raw-client.ts";
import { adapterCapabilities, closeServers, startServer } from "./support/runtime.ts";

afterEach(closeServers);

const decoder = new TextDecoder();

async function echoServer(options?: Parameters<typeof startServer>[1]) {
  return await startServer(async (context) => {
    const socket = await context.accept();
    for await (const message of socket) await socket.send(message.data);
  }, options);
}

describe("messages", () => {
  test("Echo_TextStaysTextBinaryStaysBinary", async () => {
    const server = await echoServer();
    const { client } = await RawClient.open(server.port, "/ws");
    client.sendText("héllo wörld ✓");
    const text = await client.readMessage();
    expect(text.opcode).toBe(Opcode.text);
    expect(decoder.decode(text.data)).toBe("héllo wörld ✓");
    client.send(Opcode.binary, new Uint8Array([0, 1, 2, 255]));
    const binary = await client.readMessage();
    expect(binary.opcode).toBe(Opcode.binary);
    expect([...binary.data]).toEqual([0, 1, 2, 255]);
    client.destroy();
  });

  test.each([0, 1, 125, 126, 130, 65535, 65536, 0x1ffff])("Echo_BinaryOf%iBytes_RoundTrips", async (size) => {
    const server = await echoServer();
    const { client } = await RawClient.open(server.port, "/ws");
    const data = randomBytes(size);
    client.send(Opcode.binary, data);
    const echoed = await client.readMessage();
    expect(echoed.opcode).toBe(Opcode.binary);
    expect(echoed.data.byteLength).toBe(size);
    expect(echoed.data).toEqual(data);
    client.destroy();
  });

  test("Iterator_IsTheApplications_CarriesNoEngineCallbacks", async () => {
    const { socket, client } = await acceptOne();
    const iterator = socket[Symbol.asyncIterator]();
    // Only the iteration protocol: an engine callback reachable from here would let the application act as the engine.
    for (const name of ["message", "closed", "opened", "failed", "pong", "drained", "closeSent", "idle", "expired"]) {
      expect(name in iterator).toBe(false);
    }
    client.send(Opcode.binary, new Uint8Array([7]));
    const first = await iterator.next();
    expect(first.done).toBe(false);
    expect([...(first.value!.data as Uint8Array)]).toEqual([7]);
    client.destroy();
  });

  test("IteratorReturnedWhileNextWaits_NextResolvesDone_MessageKeptForTheNextReceive", async () => {
    // An iterator driven by hand (its next() raced against a timer, then left): the waiting next() must not take
    // the message that arrives later, or no receive would ever see it.
    const { socket, client } = await acceptOne();
    const iterator = socket[Symbol.asyncIterator]();
    const waiting = iterator.next();
    expect(await iterator.return!()).toEqual({ done: true, value: undefined });
    expect(await settlesWithin(waiting, 1000)).toBe(true);
    expect(await waiting).toEqual({ done: true, value: undefined });
    client.send(Opcode.binary, new Uint8Array([1, 2]));
    const message = await socket.receive();
    expect(message.type).toBe("binary");
    expect([...(message as { data: Uint8Array }).data]).toEqual([1, 2]);
    // That iteration is over, as a generator's is after return(); a new one goes on with the socket.
    client.send(Opcode.binary, new Uint8Array([3]));
    expect(await iterator.next()).toEqual({ done: true, value: undefined });
    const again = await socket[Symbol.asyncIterator]().next();
    expect([...(again.value!.data as Uint8Array)]).toEqual([3]);
    expect(socket.state).toBe("open");
    client.destroy();
  });

  test("BreakOutOfForAwait_ThenReceive_NextMessageArrives", async () => {
    const { socket, client } = await acceptOne();
    client.send(Opcode.binary, new Uint8Array([1]));
    client.send(Opcode.binary, new Uint8Array([2]));
    for await (const message of socket) {
      expect([...(message.data as Uint8Array)]).toEqual([1]);
      break;
    }
    const next = await socket.receive();
    expect([...(next as { data: Uint8Array }).data]).toEqual([2]);
    client.destroy();
  });

  test("ReceiveIntoBuffer_LargeMessage_ArrivesInPartsWithEndOfMessage", async () => {
    const { socket, client } = await acceptOne();
    const data = randomBytes(10_000);
    client.send(Opcode.binary, data);
    const buffer = new Uint8Array(4096);
    const counts: number[] = [];
    const ends: boolean[] = [];
    const received = new Uint8Array(10_000);
    let offset = 0;
    for (;;) {
      const result = await socket.receive(buffer);
      expect(result.type).toBe("binary");
      received.set(buffer.subarray(0, result.count), offset);
      offset += result.count;
      counts.push(result.count);
      ends.push(result.endOfMessage);
      if (result.endOfMessage) break;
    }
    expect(counts).toEqual([4096, 4096, 1808]);
    expect(ends).toEqual([false, false, true]);
    expect(received).toEqual(data);
    client.destroy();
  });

  test("ReceiveIntoBuffer_EveryResultFrozen_SharedOrNot", async () => {
    // Repeating results are shared between calls and sockets, so none may be changed: all are frozen alike.
    const { socket, client } = await acceptOne();
    client.send(Opcode.binary, randomBytes(10_000));
    const buffer = new Uint8Array(4096);
    const results = [await socket.receive(buffer), await socket.receive(buffer), await socket.receive(buffer)];
    client.sendClose(1000, "done");
    results.push(await socket.receive(buffer));
    expect(results.map((result) => [result.count, result.type, Object.isFrozen(result)])).toEqual([
      [4096, "binary", true],
      [4096, "binary", true],
      [1808, "binary", true],
      [0, "close", true],
    ]);
    client.destroy();
  });

  test("ReceiveIntoBuffer_TextMessage_ReportsTextAndUtf8Bytes", async () => {
    const { socket, client } = await acceptOne();
    client.sendText("añb");
    const buffer = new Uint8Array(16);
    const result = await socket.receive(buffer);
    expect(result).toEqual({ count: 4, type: "text", endOfMessage: true });
    expect(decoder.decode(buffer.subarray(0, 4))).toBe("añb");
    client.destroy();
  });

  test("ReceiveZeroLengthBinary_CountZeroEndOfMessage", async () => {
    const { socket, client } = await acceptOne();
    client.send(Opcode.binary, new Uint8Array(0));
    const result = await socket.receive(new Uint8Array(8));
    expect(result).toEqual({ count: 0, type: "binary", endOfMessage: true });
    client.destroy();
  });

  test("ClientFragments_ReassembledByEngine_ReceivedAsOneMessage", async () => {
    const { socket, client } = await acceptOne();
    client.send(Opcode.text, "he", { fin: false });
    client.send(Opcode.continuation, "ll", { fin: false });
    client.send(Opcode.continuation, "o world", { fin: true });
    const message = await socket.receive();
    expect(message).toEqual({ type: "text", data: "hello world" });
    client.destroy();
  });

  test("ReceiveThenPartialThenWhole_ReturnsRestOfMessage", async () => {
    const { socket, client } = await acceptOne();
    client.send(Opcode.binary, new Uint8Array([1, 2, 3, 4, 5]));
    const first = await socket.receive(new Uint8Array(2));
    expect(first).toEqual({ count: 2, type: "binary", endOfMessage: false });
    const rest = await socket.receive();
    expect(rest.type).toBe("binary");
    expect([...(rest as { data: Uint8Array }).data]).toEqual([3, 4, 5]);
    client.destroy();
  });

  test("SendFragmentedData_APartLeftAloneLeavesAtOnce_PartsSentBackToBackShareAFrame", async () => {
    const { socket, client } = await acceptOne();
    const capabilities = await adapterCapabilities();
    await socket.send("hel", { endOfMessage: false });
    if (capabilities.fragmentedSend) {
      // The first part is not held back until the message ends (RFC 6455 §5.4: a message may go in fragments).
      const first = await client.readFrame();
      expect([first.opcode, first.fin, decoder.decode(first.payload)]).toEqual([Opcode.text, false, "hel"]);
    }
    await socket.send("lo ", { endOfMessage: false });
    await socket.send("world", { endOfMessage: true });
    if (capabilities.fragmentedSend) {
      // Parts sent in one go are gathered into one frame, which ends the message.
      const rest = await client.readFrame();
      expect([rest.opcode, rest.fin, decoder.decode(rest.payload)]).toEqual([Opcode.continuation, true, "lo world"]);
    } else {
      // Documented difference: the core holds the parts and sends one frame.
      const message = await client.readMessage();
      expect(decoder.decode(message.data)).toBe("hello world");
      expect(message.frames.map((frame) => [frame.opcode, frame.fin])).toEqual([[Opcode.text, true]]);
    }
    client.destroy();
  });

  test.each([
    ["ascii", "{\"k\":\"v\"} ".repeat(8000)],
    ["non-ascii", "{\"k\":\"v\"} ".repeat(8000) + "é"],
    ["control characters", "\u0000\u007f\t".repeat(1000)],
  ])("Receive_LargeText_%s_IsTheSameString", async (_name, text) => {
    // Large text is decoded by the engine or the core (Node copies ASCII as Latin-1): what the handler reads must be
    // the very string sent, not only bytes that echo back unchanged.
    const { socket, client } = await acceptOne();
    client.sendText(text);
    const message = await socket.receive();
    expect(message.type).toBe("text");
    const received = message.data as string;
    expect(received.length).toBe(text.length);
    expect(received === text).toBe(true);
    await socket.send(received.toUpperCase());
    expect(await client.readText()).toBe(text.toUpperCase());
    client.destroy();
  });

  test("SeedEcho_LargeTextInSmallBuffer_PeerGetsTheSameTextInOneMessage", async () => {
    // The seed's loop over a text message larger than its buffer, with characters of 1 to 4 UTF-8 bytes
    // split across the parts, and longer than one gathered frame (64 KiB).
    const { socket, client } = await acceptOne();
    const text = "aé✓😀".repeat(9000);
    client.sendText(text);
    const buffer = new Uint8Array(4096);
    let result = await socket.receive(buffer);
    for (;;) {
      expect(result.type).toBe("text");
      await socket.send(buffer.subarray(0, result.count), { type: "text", endOfMessage: result.endOfMessage });
      if (result.endOfMessage) break;
      result = await socket.receive(buffer);
    }
    const echoed = await client.readMessage();
    expect(echoed.opcode).toBe(Opcode.text);
    expect(decoder.decode(echoed.data)).toBe(text);
    client.destroy();
  });

  test("ReceiveIntoBuffer_AsciiTextThenWiderCharacters_EveryPartButTheLastFillsTheBuffer", async () => {
    // Text received into a buffer comes in the parts its UTF-8 bytes would: a character may be split between two
    // parts, whatever form the engine handed the text over in (string or bytes).
    const { socket, client } = await acceptOne();
    const text = "a".repeat(4095) + "é" + "b".repeat(3000) + "✓😀".repeat(1000);
    const bytes = new TextEncoder().encode(text);
    client.sendText(text);
    const buffer = new Uint8Array(4096);
    const received = new Uint8Array(bytes.byteLength);
    const counts: number[] = [];
    let offset = 0;
    for (;;) {
      const result = await socket.receive(buffer);
      expect(result.type).toBe("text");
      received.set(buffer.subarray(0, result.count), offset);
      offset += result.count;
      counts.push(result.count);
      if (result.endOfMessage) break;
    }
    expect(bytes.byteLength).toBe(14_097);
    expect(counts).toEqual([4096, 4096, 4096, 1809]);
    expect(received).toEqual(bytes);
    client.destroy();
  });

  test("ReceiveIntoBuffer_ThenWhole_RestOfTheTextFromWhereThePartsStopped", async () => {
    const { socket, client } = await acceptOne();
    const text = "x".repeat(5000) + "ü".repeat(100);
    client.sendText(text);
    const first = await socket.receive(new Uint8Array(4096));
    expect(first).toEqual({ count: 4096, type: "text", endOfMessage: false });
    expect(await socket.receive()).toEqual({ type: "text", data: text.slice(4096) });
    client.destroy();
  });

  // Reads the rest of a message with receive(buffer) until its end, as bytes.
  async function restIntoBuffers(socket: UniWebSocket, buffer: Uint8Array): Promise<number[]> {
    const bytes: number[] = [];
    for (;;) {
      const result = await socket.receive(buffer);
      expect(result.type).toBe("text");
      bytes.push(...buffer.subarray(0, result.count));
      if (result.endOfMessage) return bytes;
    }
  }

  test.each(["Receive", "Iteration"] as const)(
    "ReceiveIntoBuffer_StopsInsideACharacter_ThenWholeBy%s_RejectsInvalidState_MessageKeptForReceiveIntoBuffer",
    async (how) => {
      // A string cannot hold the rest of a character: decoding from mid-character would hand out U+FFFD where the
      // message has none, and skipping to the next character would lose bytes. The message stays as it was.
      const { socket, client } = await acceptOne();
      const text = "é✓😀".repeat(40);
      const bytes = new TextEncoder().encode(text);
      client.sendText(text);
      client.sendText("next");
      const buffer = new Uint8Array(3);
      const first = await socket.receive(buffer);
      // "é" (2 bytes) and the first byte of "✓" (3 bytes).
      expect(first).toEqual({ count: 3, type: "text", endOfMessage: false });
      const whole = how === "Receive" ? socket.receive() : socket[Symbol.asyncIterator]().next();
      await expect(whole).rejects.toMatchObject({ name: "WebSocketError", code: "INVALID_STATE" });
      await expect(whole).rejects.toThrow(/finish the message with receive\(buffer\)/);
      // The rest, read into buffers, completes the message: the bytes handed out are exactly the message's.
      const rest = await restIntoBuffers(socket, new Uint8Array(7));
      expect(new Uint8Array([...buffer, ...rest])).toEqual(bytes);
      // And the socket goes on with whole messages.
      expect(await socket.receive()).toEqual({ type: "text", data: "next" });
      client.destroy();
    },
  );

  test("ReceiveIntoBuffer_StopsBetweenWideCharacters_ThenWhole_TheRestAsAString", async () => {
    // 2048 two-byte characters fill 4096 bytes exactly: the rest begins with a whole character.
    const { socket, client } = await acceptOne();
    const text = "é".repeat(3000);
    client.sendText(text);
    expect(await socket.receive(new Uint8Array(4096))).toEqual({ count: 4096, type: "text", endOfMessage: false });
    expect(await socket.receive()).toEqual({ type: "text", data: "é".repeat(952) });
    client.destroy();
  });

  test.each(["Receive", "Iteration"] as const)("ReceiveIntoBuffer_AsciiTextInSeveralParts_ThenWholeBy%s_TheRest", async (how) => {
    // ASCII text may be handed out from the engine's string as it is: the rest is the string from where the parts stopped.
    const { socket, client } = await acceptOne();
    const text = "0123456789".repeat(1000);
    client.sendText(text);
    const buffer = new Uint8Array(4000);
    expect(await socket.receive(buffer)).toEqual({ count: 4000, type: "text", endOfMessage: false });
    expect(await socket.receive(buffer)).toEqual({ count: 4000, type: "text", endOfMessage: false });
    const rest = how === "Receive" ? await socket.receive() : (await socket[Symbol.asyncIterator]().next()).value;
    expect(rest).toEqual({ type: "text", data: text.slice(8000) });
    client.destroy();
  });

  test.each(["Receive", "Iteration"] as const)("ReceiveIntoBuffer_BinaryInSeveralParts_ThenWholeBy%s_TheRemainingBytes", async (how) => {
    const { socket, client } = await acceptOne();
    const data = randomBytes(1000);
    client.send(Opcode.binary, data);
    client.send(Opcode.binary, new Uint8Array([9]));
    const buffer = new Uint8Array(300);
    for (let part = 0; part < 3; part++) expect(await socket.receive(buffer)).toEqual({ count: 300, type: "binary", endOfMessage: false });
    expect([...buffer]).toEqual([...data.subarray(600, 900)]);
    const iterator = socket[Symbol.asyncIterator]();
    const rest = how === "Receive" ? await socket.receive() : (await iterator.next()).value;
    expect(rest?.type).toBe("binary");
    expect(new Uint8Array((rest as { data: Uint8Array }).data)).toEqual(data.subarray(900));
    const next = how === "Receive" ? await socket.receive() : (await iterator.next()).value;
    expect([...(next as { data: Uint8Array }).data]).toEqual([9]);
    client.destroy();
  });

  test("SendTextBytesHoldingReplacementCharacter_SentUnchanged", async () => {
    // U+FFFD is a character like any other: text bytes that hold it are valid UTF-8 (EF BF BD) and go out as they are.
    const { socket, client } = await acceptOne();
    const text = "before \uFFFD after";
    await socket.send(new TextEncoder().encode(text), { type: "text" });
    await socket.send(new TextEncoder().encode("part \uFFFD "), { type: "text", endOfMessage: false });
    await socket.send(new TextEncoder().encode("end"), { type: "text" });
    expect(await client.readText()).toBe(text);
    expect(await client.readText()).toBe("part \uFFFD end");
    client.destroy();
  });

  test("TextWithLeadingByteOrderMark_KeptInBothDirections", async () => {
    // A payload's U+FEFF is part of the message (RFC 6455 §5.6: the payload is the text), not a BOM to strip:
    // received whole, and sent from bytes, short or long.
    const { socket, client } = await acceptOne();
    for (const text of ["\uFEFFshort", "\uFEFF" + "long ".repeat(400)]) {
      client.sendText(text);
      expect(await socket.receive()).toEqual({ type: "text", data: text });
      const bytes = new TextEncoder().encode(text);
      await socket.send(bytes, { type: "text" });
      const echoed = await client.readMessage();
      expect(echoed.opcode).toBe(Opcode.text);
      expect(new Uint8Array(echoed.data)).toEqual(bytes);
    }
    client.destroy();
  });

  test("SeedEcho_BufferChangedBeforeSend_PeerGetsTheChangedText", async () => {
    const { socket, client } = await acceptOne();
    client.sendText("abc");
    const buffer = new Uint8Array(4096);
    const result = await socket.receive(buffer);
    buffer[0] = 0x78; // "x"
    await socket.send(buffer.subarray(0, result.count), { type: "text" });
    expect(await client.readText()).toBe("xbc");
    client.destroy();
  });

  test("EchoLargeText_SentBackAsReceivedOrChanged_PeerGetsWhatWasSent", async () => {
    const { socket, client } = await acceptOne();
    const text = "ü".repeat(3000);
    client.sendText(text);
    const first = await socket.receive();
    expect(first).toEqual({ type: "text", data: text });
    await socket.send((first as { data: string }).data);
    expect(await client.readText()).toBe(text);
    client.sendText(text);
    await socket.receive();
    // Same length, other characters: the bytes that arrived must not be sent instead.
    await socket.send("ö".repeat(3000));
    expect(await client.readText()).toBe("ö".repeat(3000));
    client.destroy();
  });

  test("SendBinaryParts_TypeKeptAcrossParts", async () => {
    const { socket, client } = await acceptOne();
    await socket.send(new Uint8Array([1, 2]), { endOfMessage: false });
    await socket.send(new Uint8Array([3]), { type: "binary" });
    const message = await client.readMessage();
    expect(message.opcode).toBe(Opcode.binary);
    expect([...message.data]).toEqual([1, 2, 3]);
    client.destroy();
  });

  test("SeedEcho_SeveralSocketsAtOnce_EachPeerGetsBackExactlyItsOwnMessages", async () => {
    // Sockets gathering parts at once each take a gathering buffer, and give it back for the next message in parts:
    // a buffer shared or reused too early would mix the messages.
    const server = await startServer(async (context) => {
      const socket = await context.accept();
      const buffer = new Uint8Array(4096);
      let result = await socket.receive(buffer);
      while (result.type !== "close") {
        await socket.send(buffer.subarray(0, result.count), { type: result.type, endOfMessage: result.endOfMessage });
        result = await socket.receive(buffer);
      }
    });
    const clients = await Promise.all([1, 2, 3].map(() => RawClient.open(server.port, "/ws")));
    const sent = clients.map(() => [randomBytes(20_000), randomBytes(30_000), randomBytes(9_000)]);
    clients.forEach(({ client }, i) => sent[i]!.forEach((message) => client.send(Opcode.binary, message)));
    for (const [i, { client }] of clients.entries()) {
      for (const message of sent[i]!) expect((await client.readMessage()).data).toEqual(message);
      client.destroy();
    }
  });

  test("SendParts_CallerReusesItsBuffer_PeerGetsEachPartAsSent", async () => {
    // The seed's echo loop receives into one buffer and sends each part from it.
    const { socket, client } = await acceptOne();
    const buffer = new Uint8Array(2);
    buffer.set([1, 2]);
    await socket.send(buffer, { endOfMessage: false });
    buffer.set([3, 4]);
    await socket.send(buffer, { endOfMessage: true });
    expect([...(await client.readMessage()).data]).toEqual([1, 2, 3, 4]);
    client.destroy();
  });

  test("SendOtherTypeMidMessage_ThrowsInvalidState", async () => {
    const { socket, client } = await acceptOne();
    await socket.send("part", { endOfMessage: false });
    await expect(socket.send(new Uint8Array([1]))).rejects.toMatchObject({ code: "INVALID_STATE" });
    await expect(socket.send("x", { type: "close" as never })).rejects.toBeInstanceOf(TypeError);
    client.destroy();
  });

  test("TwoReceivesAtOnce_SecondThrowsInvalidState", async () => {
    const { socket, client } = await acceptOne();
    const first = socket.receive();
    await expect(socket.receive()).rejects.toMatchObject({ code: "INVALID_STATE" });
    client.sendText("one");
    expect(await first).toEqual({ type: "text", data: "one" });
    client.destroy();
  });

  test.each(["text", "binary"] as const)("ReceiveIntoBufferDetachedWhileWaiting_%s_RejectsTypeError_MessageKept", async (type) => {
    // The buffer was transferred away (postMessage to a worker, structuredClone with transfer) while receive(buffer)
    // waited. It then reads as empty: the receive resolved { count: 0, endOfMessage: false } on every runtime, a part
    // of nothing that no loop could finish with that buffer. As for an empty buffer given at the call: a TypeError.
    const { socket, client } = await acceptOne();
    const buffer = new Uint8Array(16);
    const pending = socket.receive(buffer);
    structuredClone(buffer.buffer, { transfer: [buffer.buffer] });
    if (type === "text") client.sendText("kept");
    else client.send(Opcode.binary, new Uint8Array([1, 2, 3]));
    await expect(pending).rejects.toThrow(TypeError);
    // Nothing of the message was handed out: it is the next receive's, whole.
    const next = new Uint8Array(16);
    expect(await socket.receive(next)).toEqual({ count: type === "text" ? 4 : 3, type, endOfMessage: true });
    expect([...next.subarray(0, type === "text" ? 4 : 3)]).toEqual(type === "text" ? [...new TextEncoder().encode("kept")] : [1, 2, 3]);
    expect(socket.state).toBe("open");
    client.destroy();
  });

  test("TextTypeWithBytes_SentAsText", async () => {
    const { socket, client } = await acceptOne();
    await socket.send(new TextEncoder().encode("bytes as text"), { type: "text" });
    expect(await client.readText()).toBe("bytes as text");
    client.destroy();
  });

  test("BinaryTypeWithString_SentAsBinaryOfItsUtf8_EchoedStringToo", async () => {
    // The type option decides the opcode whatever the data: a web socket sends every string as text and Bun's
    // sendBinary refuses one, so the core hands the engine the string's UTF-8 bytes.
    const { socket, client } = await acceptOne();
    await socket.send("héllo ✓", { type: "binary" });
    const fresh = await client.readMessage();
    expect(fresh.opcode).toBe(Opcode.binary);
    expect(decoder.decode(fresh.data)).toBe("héllo ✓");
    // A received string sent straight back (the echo path) as binary.
    client.sendText("wörld");
    const received = await socket.receive();
    await socket.send((received as { data: string }).data, { type: "binary" });
    const echoed = await client.readMessage();
    expect(echoed.opcode).toBe(Opcode.binary);
    expect(decoder.decode(echoed.data)).toBe("wörld");
    // In parts too, and the socket stays usable.
    await socket.send("a", { type: "binary", endOfMessage: false });
    await socket.send("é", { type: "binary" });
    const parts = await client.readMessage();
    expect(parts.opcode).toBe(Opcode.binary);
    expect(decoder.decode(parts.data)).toBe("aé");
    await socket.send("still text");
    expect(await client.readText()).toBe("still text");
    client.destroy();
  });

  test("ViewOfSharedArrayBuffer_SentAsAnyOtherView", async () => {
    // A Uint8Array may sit on a SharedArrayBuffer; the web WebSocket API refuses such a view, Node and Bun send it.
    const { socket, client } = await acceptOne();
    const shared = new Uint8Array(new SharedArrayBuffer(6));
    shared.set([0x68, 0x69, 1, 2, 3, 4]);
    await socket.send(shared);
    const whole = await client.readMessage();
    expect(whole.opcode).toBe(Opcode.binary);
    expect([...whole.data]).toEqual([0x68, 0x69, 1, 2, 3, 4]);
    await socket.send(shared.subarray(2, 5));
    expect([...(await client.readMessage()).data]).toEqual([1, 2, 3]);
    await socket.send(shared.subarray(0, 2), { type: "text" });
    expect(await client.readText()).toBe("hi");
    client.destroy();
  });

  // `make` applied to a buffer of bytes that is then detached by a transfer: its views read as empty, its bytes are gone.
  function detachedUnder<T>(make: (buffer: ArrayBuffer) => T): T {
    const buffer = new TextEncoder().encode("gone!!!!").buffer as ArrayBuffer;
    const data = make(buffer);
    structuredClone(buffer, { transfer: [buffer] });
    expect(buffer.byteLength).toBe(0);
    return data;
  }

  test.each([
    ["a Uint8Array on it", () => detachedUnder((buffer) => new Uint8Array(buffer))] as const,
    ["a view of part of it", () => detachedUnder((buffer) => new Uint8Array(buffer, 2, 4))] as const,
    ["the ArrayBuffer itself", () => detachedUnder((buffer) => buffer)] as const,
    ["a DataView on it", () => detachedUnder((buffer) => new DataView(buffer, 1, 3))] as const,
  ])("SendDetachedBuffer_%s_RejectsTypeErrorNothingSent_SocketStaysOpen", async (_name, make) => {
    // An empty message in place of the caller's bytes would be silent loss: a bad argument, refused before anything is
    // sent or changes, whether as binary, as text, or as a part of a message.
    const { socket, client } = await acceptOne();
    for (const options of [{}, { type: "text" as const }, { endOfMessage: false }]) {
      const sending = socket.send(make(), options);
      await expect(sending).rejects.toBeInstanceOf(TypeError);
      await expect(sending).rejects.toThrow(/detached ArrayBuffer.*nothing was sent/);
    }
    // A message in parts stays as it was around the refused part.
    await socket.send("a", { endOfMessage: false });
    await expect(socket.send(make(), { type: "text" })).rejects.toBeInstanceOf(TypeError);
    await socket.send("b");
    expect(socket.state).toBe("open");
    const next = await client.readMessage();
    expect([next.opcode, decoder.decode(next.data)]).toEqual([Opcode.text, "ab"]);
    await socket.send(new Uint8Array(0));
    const empty = await client.readMessage();
    expect([empty.opcode, empty.data.byteLength]).toEqual([Opcode.binary, 0]);
    client.destroy();
  });

  test("SendTextBytesNotUtf8_RejectsTypeErrorBeforeAnythingIsSent_SocketStaysOpen", async () => {
    // RFC 6455 §5.6, §8.1: a text message is UTF-8. Invalid bytes are the caller's mistake, answered the same on every
    // runtime: the send rejects, nothing reaches the peer (which would fail the connection with 1007), nothing changes.
    const { server, socket, client } = await acceptOne();
    const invalid = [
      [0x68, 0xff, 0x69], // a byte UTF-8 never uses
      [0x61, 0xe2, 0x82], // a sequence cut short at the end
      [0xed, 0xa0, 0x80], // an encoded surrogate (U+D800)
      [0xc0, 0xaf], // an overlong "/"
    ];
    for (const bytes of invalid) {
      const sent = socket.send(new Uint8Array(bytes), { type: "text" });
      await expect(sent, `${bytes}`).rejects.toThrow(TypeError);
      await expect(sent).rejects.toThrow(/valid UTF-8/);
    }
    expect(socket.state).toBe("open");
    await socket.send(new TextEncoder().encode("still ✓"), { type: "text" });
    await socket.send("open");
    // The first frames the peer sees are the valid messages, whole.
    expect(await client.readText()).toBe("still ✓");
    expect(await client.readText()).toBe("open");
    expect(server.stats().messages.send).toEqual({ text: 2, binary: 0 });
    client.destroy();
  });

  test("SendTextPartsNotUtf8AsAWhole_LastPartRejected_MessageStaysOpenWithTheEarlierParts", async () => {
    // A part may end in the middle of a character; the message is checked where it is whole, at its last part. The
    // rejected part changes nothing: the parts before it are kept and a valid last part completes the message.
    const { socket, client } = await acceptOne();
    const first = socket.send(new Uint8Array([0x68, 0xe2]), { type: "text", endOfMessage: false });
    const bad = socket.send(new Uint8Array([0x28]), { type: "text" });
    const good = socket.send(new Uint8Array([0x82, 0xac]), { type: "text" });
    await first;
    await expect(bad).rejects.toThrow(TypeError);
    await good;
    expect(await client.readText()).toBe("h€");
    await socket.send("next");
    expect(await client.readText()).toBe("next");
    client.destroy();
  });

  test("SendTextPartsThatCannotBeginUtf8_LastPartRejected_MessageDropped_SocketSendsAgain", async () => {
    // Held parts that no last part could complete (0xff never occurs in UTF-8): keeping them would leave the socket
    // unable to send anything but that message, so it is dropped with the refused part; nothing of it was sent.
    const { socket, client } = await acceptOne();
    const first = socket.send(new Uint8Array([0x68, 0xff]), { type: "text", endOfMessage: false });
    const last = socket.send("ok");
    const text = socket.send("next");
    const binary = socket.send(new Uint8Array([7]));
    await first;
    await expect(last).rejects.toThrow(/dropped/);
    await text;
    await binary;
    expect(await client.readText()).toBe("next");
    const message = await client.readMessage();
    expect([message.opcode, [...message.data]]).toEqual([Opcode.binary, [7]]);
    client.destroy();
  });

  test("SendTextInLargePartsNotUtf8_PartsAlreadyOutLeftToThePeer_HeldPartsCheckedAtTheLastPart", async () => {
    // docs/semantics.md: where a part of 64 KiB went out as a fragment (engines with fragmented send), the message is
    // whole nowhere and the peer checks it (RFC 6455 §8.1); where the core holds the parts, the last part is rejected.
    const { socket, client } = await acceptOne();
    const { fragmentedSend } = await adapterCapabilities();
    await socket.send(new Uint8Array(64 * 1024).fill(0x61), { type: "text", endOfMessage: false });
    const last = socket.send(new Uint8Array([0xff]), { type: "text" });
    if (fragmentedSend) {
      await last;
      const message = await client.readMessage();
      expect([message.opcode, message.data.byteLength, message.data.at(-1)]).toEqual([Opcode.text, 64 * 1024 + 1, 0xff]);
    } else {
      await expect(last).rejects.toThrow(TypeError);
      await socket.send(new Uint8Array([0x62]), { type: "text" });
      expect(await client.readText()).toBe("a".repeat(64 * 1024) + "b");
    }
    client.destroy();
  });

  test("MessageOverMaxMessageSize_ClosesWith1009_AtLimitPasses", async () => {
    const server = await echoServer({ maxMessageSize: 1000 });
    const { client } = await RawClient.open(server.port, "/ws");
    client.send(Opcode.binary, new Uint8Array(1000));
    expect((await client.readMessage()).data.byteLength).toBe(1000);
    client.send(Opcode.binary, new Uint8Array(1001));
    const close = await client.readClose();
    expect(close.code).toBe(1009);
    client.destroy();
  });

  // The same end on every runtime, whoever enforces the limit: `ws` and Bun fail the connection after their 1009
  // (RFC 6455 §7.1.7) and the core does as they do where the engine has no limit of its own (Deno, Hono on Bun,
  // workerd). A peer that answers the Close does not make it clean: nothing after the oversized message is read.
  test("MessageOverMaxMessageSize_PeerAnswersTheClose_FailedEverywhere_ErrorNames1009", async () => {
    const { socket, client } = await acceptOne({ maxMessageSize: 10 });
    client.sendText("0123456789");
    expect(await socket.receive()).toMatchObject({ type: "text", data: "0123456789" });
    client.sendText("0123456789a");
    const received = socket.receive().then(() => "resolved", (error: unknown) => error);
    expect((await client.readClose()).code).toBe(1009);
    client.sendClose(1009);
    const closed = await socket.closed;
    expect(closed).toMatchObject({ closeStatus: 1006, closeStatusDescription: "", wasClean: false });
    expect(closed.error).toBeInstanceOf(WebSocketError);
    expect(closed.error).toMatchObject({ code: "CONNECTION_CLOSED", closeStatus: 1009 });
    expect(await received).toMatchObject({ code: "CONNECTION_CLOSED", closeStatus: 1009 });
    expect(socket.state).toBe("aborted");
    await expect(socket.send("late")).rejects.toMatchObject({ code: "CONNECTION_CLOSED" });
    client.destroy();
  });

  test("MessageOverMaxMessageSize_MessagesBeforeItStillReceived_NothingAfter", async () => {
    const { socket, client } = await acceptOne({ maxMessageSize: 10 });
    client.sendText("first");
    client.sendText("second");
    client.sendText("x".repeat(11));
    expect((await client.readClose()).code).toBe(1009);
    // Sent after the server's Close (a peer that has not read it yet): dropped, never received (docs/deno.md item 5).
    client.sendText("after");
    client.destroy();
    const seen: unknown[] = [];
    const error = await (async () => {
      for (;;) seen.push((await socket.receive()).data);
    })().catch((error: unknown) => error);
    expect(seen).toEqual(["first", "second"]);
    expect(error).toMatchObject({ code: "CONNECTION_CLOSED", closeStatus: 1009 });
  });

  test("SizeLimitOnOneSocket_OthersKeepServing", async () => {
    const server = await echoServer({ maxMessageSize: 100 });
    const { client: bad } = await RawClient.open(server.port, "/ws");
    const { client: good } = await RawClient.open(server.port, "/ws");
    bad.send(Opcode.text, "x".repeat(200));
    expect((await bad.readClose()).code).toBe(1009);
    good.sendText("still here");
    expect(await good.readText()).toBe("still here");
    bad.destroy();
    good.destroy();
  });
});

describe("backpressure", () => {
  test.each([[0, 10], [100, 1000], [1000, 1000], [4096, 8000]])("SendHighWaterMark%iBelowMessagesOf%iBytes_PeerReadsEverything_EverySendResolves", async (highWaterMark, size) => {
    // A mark under the runtime's own (16 KiB on Node's sockets): the bytes of each send sit in the engine's buffer for
    // a moment, so each send waits for them to drain. On Node that drain was never told (Node emits `drain` only past
    // its own mark) and the first send never resolved, while the peer read everything; Deno and Bun resolved each.
    const { socket, client } = await acceptOne({ sendHighWaterMark: highWaterMark, keepAliveInterval: 0 });
    const message = "x".repeat(size);
    const sending = (async () => {
      for (let i = 0; i < 20; i++) await socket.send(i % 2 === 0 ? message : new TextEncoder().encode(message));
    })();
    for (let i = 0; i < 20; i++) expect((await client.readMessage()).data.byteLength).toBe(size);
    expect(await settlesWithin(sending, 5000), "every send resolves once the peer has read it").toBe(true);
    await sending;
    expect(socket.bufferedAmount).toBeLessThanOrEqual(highWaterMark);
    client.destroy();
  });

  test("SendToPeerThatStopsReading_WaitsUntilItReadsAgain", async () => {
    const { socket, client } = await acceptOne({ sendHighWaterMark: 64 * 1024 });
    client.socket.pause();
    const chunk = new Uint8Array(64 * 1024);
    let blocked: Promise<void> | undefined;
    let sent = 0;
    // Kernel buffers absorb a few MiB first; bounded at 32 MiB.
    for (let i = 0; i < 512 && blocked === undefined; i++) {
      const pending = socket.send(chunk);
      sent++;
      if (!(await settlesWithin(pending, 100))) blocked = pending;
    }
    expect(blocked, `send never waited after ${sent} messages`).toBeDefined();
    expect(socket.bufferedAmount).toBeGreaterThan(64 * 1024);
    client.socket.resume();
    // Reading everything lets the buffer drain, and the waiting send resolves.
    let received = 0;
    const reading = (async () => {
      while (received < sent) {
        await client.readMessage(10_000);
        received++;
      }
    })();
    await blocked;
    await reading;
    expect(received).toBe(sent);
    client.destroy();
  });

  test("PartSentWhileBufferOverHighWaterMark_WaitsUntilItDrains_MessageArrivesWhole", async () => {
    // A part the core only gathers must still wait while earlier messages keep the buffer over the mark.
    const { socket, client } = await acceptOne({ sendHighWaterMark: 64 * 1024 });
    client.socket.pause();
    const chunk = new Uint8Array(64 * 1024);
    let sent = 0;
    // Sent without awaiting until the runtime holds more than the mark (kernel buffers absorb a few MiB first;
    // bounded at 12 MiB, under the 16 MiB sendBufferLimit).
    while (socket.bufferedAmount <= 64 * 1024 && sent < 192) {
      void socket.send(chunk);
      sent++;
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    expect(socket.bufferedAmount, `the buffer stayed under the mark after ${sent} messages`).toBeGreaterThan(64 * 1024);
    const part = new Uint8Array(4096).fill(7);
    const first = socket.send(part, { endOfMessage: false });
    expect(await settlesWithin(first, 100), "a part resolved while the buffer was over the mark").toBe(false);
    client.socket.resume();
    await first;
    await socket.send(part, { endOfMessage: true });
    for (let i = 0; i < sent; i++) expect((await client.readMessage(10_000)).data.byteLength).toBe(chunk.byteLength);
    const whole = await client.readMessage(10_000);
    expect(whole.data.byteLength).toBe(2 * part.byteLength);
    expect(whole.data.every((byte) => byte === 7)).toBe(true);
    client.destroy();
  });

  test("SendReusingOneBuffer_PeerSlowToRead_GetsEachMessageAsSent", async () => {
    // The seed's echo reuses its buffer as soon as send() resolves; queued bytes must not change under it.
    const { socket, client } = await acceptOne({ sendHighWaterMark: 64 * 1024 });
    client.socket.pause();
    const buffer = new Uint8Array(40 * 1024);
    const count = 150;
    const sending = (async () => {
      for (let i = 0; i < count; i++) {
        buffer.fill(i & 0xff);
        await socket.send(buffer);
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 300));
    client.socket.resume();
    for (let i = 0; i < count; i++) {
      const message = await client.readMessage(10_000);
      expect(message.data.byteLength).toBe(buffer.byteLength);
      expect(message.data.every((byte) => byte === (i & 0xff)), `message ${i} changed after it was sent`).toBe(true);
    }
    await sending;
    client.destroy();
  });

  test("SendAfterClose_ThrowsInvalidState", async () => {
    const { socket, client } = await acceptOne();
    const closing = socket.close(1000, "done");
    expect(socket.state).toBe("closeSent");
    await expect(socket.send("late")).rejects.toBeInstanceOf(WebSocketError);
    await expect(socket.send("late")).rejects.toMatchObject({ code: "INVALID_STATE" });
    const close = await client.readClose();
    expect(close).toEqual({ code: 1000, reason: "done" });
    client.sendClose(1000, "done");
    expect((await closing).wasClean).toBe(true);
    client.destroy();
  });
});
