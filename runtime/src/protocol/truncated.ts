/**
 * At most `max` characters of `text` (something a peer sent), for echoing it
 * in a status message: a refusal must not cost more than what caused it.
 */
export function truncated(text: string, max = 100): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} characters)`;
}
