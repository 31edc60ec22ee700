/** The one interface of limitConn's stores: take a slot if fewer than `conn` are taken; give it back. */
export interface ConnStore {
  /** True when the request got a slot. */
  acquire(key: string): boolean | Promise<boolean>;
  release(key: string): void | Promise<void>;
  close?(): void;
}
