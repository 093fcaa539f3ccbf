/** Schemas: payload encodings (bytes, string, json, msgpack) and message properties. */
export {
  Schemas, schemaOf, schemaOption, isSchemaType, checkSchemaCompatible, type Schema, type SchemaType,
} from './schema.js';
export { encodeProperties, decodeProperties } from './properties.js';
