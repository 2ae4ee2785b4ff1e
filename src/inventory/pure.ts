/**
 * The part of the inventory layer that uses no Node built-ins and does no I/O,
 * for workflow code: building an inventory from an inline rollbook document and
 * selecting hosts with a pattern.
 */
export { inventoryFromDocument } from './document';
export { HostPatternError, InventoryError } from './errors';
export type { Credential, Inventory, InventoryGroup, InventoryHost } from './model';
export { selectHosts, validateHostPattern } from './patterns';
export type { RollbookInventoryDocument } from './schema';
export { rollbookInventorySchema } from './schema';
