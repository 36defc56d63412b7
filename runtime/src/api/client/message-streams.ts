import type { DescMessage, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import { toMessage } from "./codec.js";

/** One message as a stream of one. */
export async function* once<T>(message: T): AsyncGenerator<T> {
  yield message;
}

/** Messages of `schema` from a stream of init shapes, converted as they are consumed. */
export async function* messagesOf<Desc extends DescMessage>(
  schema: Desc,
  messages: AsyncIterable<MessageInitShape<Desc>>,
): AsyncGenerator<MessageShape<Desc>> {
  for await (const message of messages) {
    yield toMessage(schema, message);
  }
}
