/**
 * Set `record[key] = value` as an own, enumerable property, whatever the key: a plain assignment
 * with the key `"__proto__"` would replace the record's prototype instead (Object.fromEntries
 * makes such a key an own property; this does the same without building an array of entries).
 */
export function setEntry<T>(record: Record<string, T>, key: string, value: T): void {
  if (key === "__proto__") Object.defineProperty(record, key, { value, enumerable: true, writable: true, configurable: true });
  else record[key] = value;
}
