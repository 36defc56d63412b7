/**
 * A service whose methods carry every idempotency level, built from a
 * FileDescriptorProto at run time (protobuf-es reads `idempotency_level`
 * into DescMethod.idempotency, as it does for generated descriptors):
 * Get and Watch have no side effects, Put is idempotent, Create is neither.
 */
import { create, createFileRegistry, type DescMessage, type DescMethod } from "@bufbuild/protobuf";
import type { GenMessage, GenService } from "@bufbuild/protobuf/codegenv2";
import {
  FieldDescriptorProto_Label,
  FieldDescriptorProto_Type,
  FileDescriptorProtoSchema,
  MethodOptions_IdempotencyLevel,
} from "@bufbuild/protobuf/wkt";

const { NO_SIDE_EFFECTS, IDEMPOTENT, IDEMPOTENCY_UNKNOWN } = MethodOptions_IdempotencyLevel;

const file = create(FileDescriptorProtoSchema, {
  name: "store/v1/store.proto",
  package: "store.v1",
  syntax: "proto3",
  messageType: [
    {
      name: "Item",
      field: [
        { name: "key", number: 1, type: FieldDescriptorProto_Type.STRING, label: FieldDescriptorProto_Label.OPTIONAL, jsonName: "key" },
        { name: "value", number: 2, type: FieldDescriptorProto_Type.STRING, label: FieldDescriptorProto_Label.OPTIONAL, jsonName: "value" },
      ],
    },
  ],
  service: [
    {
      name: "StoreService",
      method: [
        { name: "Get", inputType: ".store.v1.Item", outputType: ".store.v1.Item", options: { idempotencyLevel: NO_SIDE_EFFECTS } },
        { name: "Put", inputType: ".store.v1.Item", outputType: ".store.v1.Item", options: { idempotencyLevel: IDEMPOTENT } },
        { name: "Create", inputType: ".store.v1.Item", outputType: ".store.v1.Item", options: { idempotencyLevel: IDEMPOTENCY_UNKNOWN } },
        {
          name: "Watch",
          inputType: ".store.v1.Item",
          outputType: ".store.v1.Item",
          serverStreaming: true,
          options: { idempotencyLevel: NO_SIDE_EFFECTS },
        },
        {
          name: "Sync",
          inputType: ".store.v1.Item",
          outputType: ".store.v1.Item",
          clientStreaming: true,
          serverStreaming: true,
          options: { idempotencyLevel: IDEMPOTENT },
        },
      ],
    },
  ],
});

const registry = createFileRegistry(file, () => undefined);

/** store.v1.Item */
export type Item = { $typeName: "store.v1.Item"; key: string; value: string };
export const ItemSchema = registry.getMessage("store.v1.Item") as DescMessage as GenMessage<Item>;

type Unary = { methodKind: "unary"; input: typeof ItemSchema; output: typeof ItemSchema };

/** store.v1.StoreService */
export const StoreService = registry.getService("store.v1.StoreService") as unknown as GenService<{
  get: Unary;
  put: Unary;
  create: Unary;
  watch: { methodKind: "server_streaming"; input: typeof ItemSchema; output: typeof ItemSchema };
  sync: { methodKind: "bidi_streaming"; input: typeof ItemSchema; output: typeof ItemSchema };
}>;

/** The levels as protobuf-es read them, for the test's own check. */
export function levelOf(method: DescMethod): MethodOptions_IdempotencyLevel {
  return method.idempotency;
}
