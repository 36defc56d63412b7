import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { recordSession, type SessionSetup } from "./support/scripted-session.js";
import {
  compareTranscripts,
  decodeFrame,
  decodeFrameStream,
  DIRECTIONS,
  encodeFrameStream,
  framesOf,
  readableJson,
  selfConsistencyProblems,
  windowUpdateProblems,
  type Transcript,
} from "./support/transcript.js";
import { MAX_CHUNK, protocolProblems } from "./support/wire-invariants.js";

// Golden wire transcripts: the exact frames of a short scripted session
// (see support/scripted-session.ts) per tunnel kind and protocol revision.
// Any change to the bytes on the wire fails here. After an intended change,
// regenerate from the repository root and review the JSON diff:
//   UPDATE_GOLDEN=1 npx vitest run interop/test/wire-transcripts.test.ts

const GOLDEN_DIR = fileURLToPath(new URL("./golden/", import.meta.url));
const UPDATE = process.env.UPDATE_GOLDEN === "1";

interface Scenario {
  scenario: string;
  description: string;
  setup: SessionSetup;
  /** The revision every stream must use. */
  revision: 0 | 1;
}

const SCENARIOS: Scenario[] = [
  { scenario: "fwd-rev1", description: "forward tunnel, flow control on both sides: revision 1", setup: { kind: "forward" }, revision: 1 },
  {
    scenario: "fwd-rev0",
    description: "forward tunnel, the client disables flow control: Settings offers [0, 1], the client picks revision 0",
    setup: { kind: "forward", networkClientNoFlowControl: true },
    revision: 0,
  },
  {
    scenario: "fwd-svrnofc",
    description: "forward tunnel, the server disables flow control: Settings offers [0] only",
    setup: { kind: "forward", networkServerNoFlowControl: true },
    revision: 0,
  },
  { scenario: "rev-rev1", description: "reverse tunnel, flow control on both sides: revision 1", setup: { kind: "reverse" }, revision: 1 },
  {
    scenario: "rev-rev0",
    description: "reverse tunnel, the network client (tunnel server) disables flow control: Settings offers [0] only",
    setup: { kind: "reverse", networkClientNoFlowControl: true },
    revision: 0,
  },
];

const METHODS = { forward: "/grpctunnel.v1.TunnelService/OpenTunnel", reverse: "/grpctunnel.v1.TunnelService/OpenReverseTunnel" };

async function record(s: Scenario): Promise<Transcript> {
  const { recorder, results } = await recordSession({ maxChunkBytes: MAX_CHUNK, ...s.setup });
  return {
    scenario: s.scenario,
    description: s.description,
    method: METHODS[s.setup.kind],
    tunnel_kind: s.setup.kind,
    request_headers: recorder.requestHeaders,
    response_headers: recorder.responseHeaders,
    results,
    frames: { c2s: framesOf(recorder.frames, "c2s"), s2c: framesOf(recorder.frames, "s2c") },
  };
}

const binaryName = (scenario: string, dir: string) => `${scenario}.${dir}.binpb`;

function writeGolden(t: Transcript): void {
  mkdirSync(GOLDEN_DIR, { recursive: true });
  const binary = { c2s: binaryName(t.scenario, "c2s"), s2c: binaryName(t.scenario, "s2c") };
  for (const dir of DIRECTIONS) {
    writeFileSync(GOLDEN_DIR + binary[dir], encodeFrameStream(t.frames[dir]));
  }
  writeFileSync(`${GOLDEN_DIR}${t.scenario}.json`, `${JSON.stringify(readableJson(t, binary), null, 2)}\n`);
}

function readGolden(scenario: string): { golden: Transcript; json: ReturnType<typeof JSON.parse> } {
  const path = `${GOLDEN_DIR}${scenario}.json`;
  if (!existsSync(path)) {
    throw new Error(`no golden transcript ${path}; create it with UPDATE_GOLDEN=1 npx vitest run interop/test/wire-transcripts.test.ts`);
  }
  const json = JSON.parse(readFileSync(path, "utf8"));
  const frames = { c2s: [] as Uint8Array[], s2c: [] as Uint8Array[] };
  for (const dir of DIRECTIONS) {
    frames[dir] = decodeFrameStream(readFileSync(GOLDEN_DIR + json.binary[dir]));
  }
  return { golden: { ...json, frames }, json };
}

/** What each step of the script must show on the wire, whatever the golden files say. */
function coverageProblems(t: Transcript, revision: 0 | 1): string[] {
  const c2s = t.frames.c2s.map((b) => decodeFrame("c2s", b));
  const s2c = t.frames.s2c.map((b) => decodeFrame("s2c", b));
  const problems: string[] = [];
  const check = (ok: boolean, what: string) => ok || problems.push(what);
  const streams = c2s.flatMap((f) => (f.frame.case === "newStream" ? [f.frame.value] : []));
  check(streams.length === 8, `8 streams (got ${streams.length})`);
  check(
    streams.every((s) => s.protocolRevision === revision),
    `every stream uses revision ${revision}`,
  );
  for (const method of ["Unary", "ClientStream", "ServerStream", "BidiStream", "UseExternalMessageTwice"]) {
    check(
      streams.some((s) => s.methodName === `/grpchantesting.TestService/${method}`),
      `a ${method} call`,
    );
  }
  check(
    c2s.some((f) => f.frame.case === "cancel"),
    "a cancel frame",
  );
  check(
    c2s.some((f) => f.frame.case === "moreRequestData") && s2c.some((f) => f.frame.case === "moreResponseData"),
    "a message of more than one chunk in each direction",
  );
  check(
    s2c.some((f) => f.frame.case === "closeStream" && f.frame.value.status?.code === 5 && f.frame.value.status.details.length === 1),
    "an error with details",
  );
  check(
    s2c.some((f) => f.frame.case === "closeStream" && f.frame.value.status?.code === 1),
    "a stream closed as CANCELLED",
  );
  check(
    c2s.some((f) => f.frame.case === "requestMessage" && f.frame.value.size === 0),
    "an empty message",
  );
  return problems;
}

describe("wire transcripts of a scripted session (golden files)", () => {
  for (const s of SCENARIOS) {
    it(`${s.scenario}: ${s.description}`, async () => {
      const actual = await record(s);
      expect(protocolProblems(actual)).toEqual([]);
      expect(windowUpdateProblems(actual)).toEqual([]);
      expect(coverageProblems(actual, s.revision)).toEqual([]);
      if (UPDATE) {
        writeGolden(actual);
        return;
      }
      const { golden, json } = readGolden(s.scenario);
      expect(selfConsistencyProblems(golden, json)).toEqual([]);
      expect(protocolProblems(golden)).toEqual([]);
      expect(compareTranscripts(actual, golden)).toEqual([]);
    });
  }

  it("the comparison catches a one-byte change in a frame", () => {
    const { golden } = readGolden("fwd-rev1");
    const tampered: Transcript = { ...golden, frames: { ...golden.frames, s2c: golden.frames.s2c.map((b) => new Uint8Array(b)) } };
    // The last byte of the first response chunk is payload: still a valid frame, other bytes.
    const i = tampered.frames.s2c.findIndex((b) => decodeFrame("s2c", b).frame.case === "responseMessage");
    tampered.frames.s2c[i][tampered.frames.s2c[i].length - 1] ^= 1;
    expect(compareTranscripts(tampered, golden)).toHaveLength(1);
  });
});
