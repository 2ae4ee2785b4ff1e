/**
 * The inventory layer: rollbook's own format, Ansible INI and YAML import, and
 * Ansible-style host patterns. Workflow code imports `./pure` instead, which
 * leaves out the file loaders and their Node built-ins.
 */
export { inventoryFromDocument } from './document';
export { HostPatternError, InventoryError } from './errors';
export type { InventoryFormat, InventorySource } from './load';
export { detectInventoryFormat, loadInventory, parseInventory } from './load';
export type { Credential, Inventory, InventoryGroup, InventoryHost, LoadedInventory } from './model';
export { selectHosts, validateHostPattern } from './patterns';
export type { RollbookInventoryDocument } from './schema';
export { credentialSchema, rollbookInventorySchema, secretNameSchema } from './schema';
