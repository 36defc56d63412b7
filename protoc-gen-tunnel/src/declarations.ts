import type { GeneratedFile, Printable, Target } from "@bufbuild/protoplugin";

/** One parameter of a generated function or method. */
export interface Param {
  name: string;
  type: Printable;
  optional?: boolean;
}

/** What a generated function or method looks like from outside. */
export interface Signature {
  name: string;
  /** Type parameters, e.g. `<K>`. */
  typeParams?: string;
  params: Param[];
  /** The return type; none for a constructor. */
  returns?: Printable;
}

/**
 * Prints the generated declarations for one target from one description,
 * so the TypeScript, JavaScript and declaration outputs cannot drift apart:
 * TypeScript has types and bodies, JavaScript only bodies (no types, no
 * interfaces), declaration files only types (`export declare`, members
 * ending in `;`). Writing JavaScript and declarations directly, rather than
 * transpiling the TypeScript, keeps the plugin independent of whatever
 * TypeScript version the user's project has installed.
 */
export class DeclarationPrinter {
  constructor(
    readonly f: GeneratedFile,
    readonly target: Target,
  ) {}

  /** Whether this output has type annotations and type-only declarations. */
  get hasTypes(): boolean {
    return this.target !== "js";
  }

  /** An exported function, followed by a blank line. */
  function(doc: string, signature: Signature, body: Printable[]): void {
    this.f.print(this.f.jsDoc(doc));
    this.printCallable("", this.f.export(this.declared("function"), signature.name), signature, body);
    this.f.print();
  }

  /** The opening line of an exported class. */
  openClass(doc: string, name: string): void {
    this.f.print(this.f.jsDoc(doc));
    this.f.print(this.f.export(this.declared("class"), name), " {");
  }

  /** A field declared with its modifiers (erased in JavaScript, where the constructor assigns it). */
  field(modifiers: string, name: string, type: Printable): void {
    if (this.hasTypes) {
      this.f.print("  ", modifiers, name, ": ", type, ";");
      this.f.print();
    }
  }

  /** A class member: a method or the constructor. */
  method(signature: Signature, body: Printable[]): void {
    this.printCallable("  ", signature.name, signature, body);
  }

  /** The closing line of a class, followed by a blank line. */
  closeClass(): void {
    this.f.print("}");
    this.f.print();
  }

  private declared(keyword: "class" | "function"): string {
    return this.target === "dts" ? `declare ${keyword}` : keyword;
  }

  /** A signature, then either `;` (declarations) or the body's lines in braces. */
  private printCallable(indent: string, head: Printable, signature: Signature, body: Printable[]): void {
    const params = signature.params.map(
      (p, i): Printable => [i === 0 ? "" : ", ", p.name, this.hasTypes ? [p.optional === true ? "?" : "", ": ", p.type] : ""],
    );
    const { typeParams = "", returns } = signature;
    const line: Printable[] = [indent, head, this.hasTypes ? typeParams : "", "(", params, ")"];
    if (this.hasTypes && returns !== undefined) {
      line.push(": ", returns);
    }
    if (this.target === "dts") {
      this.f.print(line, ";");
      return;
    }
    this.f.print(line, " {");
    for (const statement of body) {
      this.f.print(indent, "  ", statement);
    }
    this.f.print(indent, "}");
  }
}
