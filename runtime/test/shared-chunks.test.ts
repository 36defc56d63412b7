// A stream alone on its tunnel sends each message whole (one chunk); while
// other streams are open it sends chunks of at most 256 KiB, so their
// frames do not wait behind a megabyte chunk (revision 0 has no window to
// bound one). Checked on the wire, both directions, over real grpc-js.
import type { MessageInitShape } from "@bufbuild/protobuf";
import { TestService, testServiceImpl, type MessageSchema } from "@protoc-gen-tunnel/interop";
import { afterEach, describe, expect, it } from "vitest";
import { bidiStreamCall, unaryCall, type ServiceImpl } from "../src/index.js";
import { deferred, forwardFixture } from "./support/forward-fixture.js";
import { dataChunks, tapForwardFrames, type FrameTap } from "./support/frame-tap.js";
import { Cleanup } from "./support/servers.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const SHARED_CHUNK = 256 * 1024;
const payload = new Uint8Array(1024 * 1024).map((_, i) => (i * 31) & 0xff);

const echo: Partial<ServiceImpl<typeof TestService>> = {
  ...testServiceImpl,
  async *bidiStream(requests) {
    for await (const request of requests) yield { payload: request.payload };
  },
};

/** 1 MiB payload, tag and length: what a message of `payload` encodes to. */
const MESSAGE_BYTES = payload.length + 1 + 3;

describe("chunk size follows the streams open on the tunnel", () => {
  const revisions: Array<[string, boolean]> = [
    ["revision 0", true],
    ["revision 1 (windows large enough for whole messages)", false],
  ];
  for (const [name, disableFlowControl] of revisions) {
    it(`${name}: whole messages while a call is alone, chunks of at most 256 KiB beside another call`, async () => {
      let tap!: FrameTap;
      const limits = { receiveWindowBytes: 4 * 1024 * 1024 };
      const { tunnel } = await forwardFixture(cleanup, {
        impl: echo,
        handler: { limits },
        tunnel: { disableFlowControl, limits },
        wrapService: (s) => (tap = tapForwardFrames(s)).service,
      });
      // Stream 1: alone.
      expect(Buffer.compare((await unaryCall(tunnel, TestService.method.unary, { payload })).payload, payload)).toBe(0);
      expect(dataChunks(tap.c2s, 1n)).toEqual([MESSAGE_BYTES]);
      expect(dataChunks(tap.s2c, 1n)).toEqual([MESSAGE_BYTES]);

      // Stream 2 stays open (one small echo shows both ends have it) while stream 3 runs.
      const release = deferred<void>();
      async function* held(): AsyncGenerator<MessageInitShape<typeof MessageSchema>> {
        yield { payload: new Uint8Array([1]) };
        await release.promise;
      }
      const responses = bidiStreamCall(tunnel, TestService.method.bidiStream, held())[Symbol.asyncIterator]();
      expect((await responses.next()).value?.payload).toEqual(new Uint8Array([1]));
      expect(Buffer.compare((await unaryCall(tunnel, TestService.method.unary, { payload })).payload, payload)).toBe(0);
      for (const chunks of [dataChunks(tap.c2s, 3n), dataChunks(tap.s2c, 3n)]) {
        expect(Math.max(...chunks)).toBe(SHARED_CHUNK);
        expect(chunks.reduce((a, b) => a + b, 0)).toBe(MESSAGE_BYTES);
      }
      release.resolve();
      expect((await responses.next()).done).toBe(true);
    });
  }
});
