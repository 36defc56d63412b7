/**
 * TLS material generated at test time with the `openssl` CLI (nothing is
 * committed): a CA, a server certificate for 127.0.0.1, and client
 * certificates whose subject CN names a device.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface KeyPair {
  key: Buffer;
  cert: Buffer;
}

export interface TestPki {
  ca: Buffer;
  server: KeyPair;
  /** A client certificate signed by the CA, with subject CN `name`. */
  client(name: string): KeyPair;
  /** A self-signed certificate with subject CN `name`: not issued by the CA. */
  selfSigned(name: string): KeyPair;
  /** Removes the temporary directory. */
  remove(): void;
}

function openssl(dir: string, args: string[]): void {
  try {
    execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  } catch (e) {
    const error = e as NodeJS.ErrnoException & { stderr?: Buffer };
    if (error.code === "ENOENT") {
      throw new Error("the TLS tests need the openssl CLI: apt-get update && apt-get install -y openssl");
    }
    throw new Error(`openssl ${args.join(" ")} failed: ${error.stderr?.toString() ?? error.message}`);
  }
}

const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

export function createTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), "tunnel-pki-"));
  const read = (file: string) => readFileSync(join(dir, file));
  openssl(dir, ["req", "-x509", ...EC_KEY, "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=tunnel-test-ca", "-days", "2"]);
  let serial = 1;
  const issue = (name: string, extensions: string): KeyPair => {
    const base = `${name}-${serial}`;
    writeFileSync(join(dir, `${base}.ext`), extensions);
    openssl(dir, ["req", ...EC_KEY, "-keyout", `${base}.key`, "-out", `${base}.csr`, "-subj", `/CN=${name}`]);
    openssl(dir, [
      "x509",
      "-req",
      "-in",
      `${base}.csr`,
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-set_serial",
      String(serial++),
      "-days",
      "2",
      "-extfile",
      `${base}.ext`,
      "-out",
      `${base}.crt`,
    ]);
    return { key: read(`${base}.key`), cert: read(`${base}.crt`) };
  };
  const server = issue("tunnel-server", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
  return {
    ca: read("ca.crt"),
    server,
    client: (name) => issue(name, "extendedKeyUsage=clientAuth\n"),
    selfSigned: (name) => {
      const base = `self-${name}-${serial++}`;
      openssl(dir, ["req", "-x509", ...EC_KEY, "-keyout", `${base}.key`, "-out", `${base}.crt`, "-subj", `/CN=${name}`, "-days", "2"]);
      return { key: read(`${base}.key`), cert: read(`${base}.crt`) };
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
