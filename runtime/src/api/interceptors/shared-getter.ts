/**
 * Gives `target` an enumerable own getter, as a getter in an object literal
 * would (a spread of the object calls it and copies the value), but with
 * one function for all objects: V8 keeps a literal's accessor pair in the
 * old generation, pointing to a getter made per object, so until the next
 * full collection every young collection keeps that getter and all it
 * reaches (a whole call) alive and promotes it. Measured on intercepted
 * unary calls: most of their garbage promoted, and the collector's share
 * of the CPU tripled.
 */
export function defineSharedGetter<T extends object>(target: T, name: string, get: (this: T) => unknown): T {
  return Object.defineProperty(target, name, { get, enumerable: true, configurable: true });
}
