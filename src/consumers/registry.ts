/**
 * The consumer registry: built once per config load from the top-level `consumers`, shared by
 * every auth plugin of that load (`await consumerRegistry(env)`). Secrets named by `*File` fields
 * are read through env.readFile, so that editing one reloads the config. API keys are indexed by
 * their SHA-256 digest: a lookup hashes what the client sent, so its timing says nothing about
 * the stored keys.
 */
import { createPublicKey, createSecretKey, type KeyObject } from "node:crypto";
import type { Consumer } from "../lifecycle/context.js";
import type { PluginEnv } from "../lifecycle/plugin.js";
import { type ConsumersConfig, consumersSchema } from "./schema.js";
import { looksLikeUnknownHash, type PasswordCheck, passwordChecker, passwordFormat, sha256Base64 } from "./secrets.js";

export interface KeyCredential {
  readonly consumer: Consumer;
  /** An id of the credential (consumer/keyAuth/index), never the key. */
  readonly id: string;
}

export interface BasicCredential {
  readonly consumer: Consumer;
  readonly username: string;
  readonly check: PasswordCheck;
}

export interface JwtCredential {
  readonly consumer: Consumer;
  /** The iss (or kid) value the credential is found by. */
  readonly key: string;
  readonly algorithm: string;
  readonly keyObject: KeyObject;
}

export class ConsumerRegistry {
  readonly #consumers = new Map<string, Consumer>();
  readonly #keys = new Map<string, KeyCredential>();
  readonly #basic = new Map<string, BasicCredential>();
  readonly #jwt = new Map<string, JwtCredential>();

  /** The consumer of that name, or undefined. */
  get(name: string): Consumer | undefined {
    return this.#consumers.get(name);
  }

  get size(): number {
    return this.#consumers.size;
  }

  /** The credential an API key belongs to (looked up by the key's SHA-256, see above). */
  findKey(presented: string): KeyCredential | undefined {
    return this.#keys.get(sha256Base64(presented));
  }

  basicUser(username: string): BasicCredential | undefined {
    return this.#basic.get(username);
  }

  jwtCredential(key: string): JwtCredential | undefined {
    return this.#jwt.get(key);
  }

  get hasJwtCredentials(): boolean {
    return this.#jwt.size > 0;
  }

  static async build(config: ConsumersConfig, readFile: (path: string) => Promise<Buffer>): Promise<ConsumerRegistry> {
    const registry = new ConsumerRegistry();
    const secret = async (inline: string | undefined, file: string | undefined): Promise<string> => {
      if (inline !== undefined) return inline;
      try {
        return (await readFile(file as string)).toString("utf8").trim();
      } catch (err) {
        throw new Error(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
    };
    for (const [name, entry] of Object.entries(config)) {
      const consumer: Consumer = Object.freeze({ name, groups: Object.freeze([...entry.groups]), customId: entry.customId });
      registry.#consumers.set(name, consumer);
      for (const [index, credential] of (entry.keyAuth ?? []).entries()) {
        const key = await secret(credential.key, credential.keyFile);
        if (key.length < 8) throw new Error(`consumers.${name}.keyAuth.${index}: an API key needs at least 8 characters`);
        const digest = sha256Base64(key);
        const other = registry.#keys.get(digest);
        if (other) throw new Error(`consumers.${name}.keyAuth.${index}: the same API key is also given to consumer ${other.consumer.name}`);
        registry.#keys.set(digest, Object.freeze({ consumer, id: `${name}/keyAuth/${index}` }));
      }
      if (entry.basicAuth) {
        const username = entry.basicAuth.username ?? name;
        const stored = await secret(entry.basicAuth.password, entry.basicAuth.passwordFile);
        const format = passwordFormat(stored);
        if (format === "plain" && looksLikeUnknownHash(stored)) {
          throw new Error(`consumers.${name}.basicAuth: the password looks like a hash of an unsupported format (use bcrypt, $apr1$ or {SHA})`);
        }
        const check = passwordChecker(stored, format);
        if (registry.#basic.has(username)) throw new Error(`consumers.${name}.basicAuth: user name ${username} is taken by another consumer`);
        registry.#basic.set(username, Object.freeze({ consumer, username, check }));
      }
      for (const [index, credential] of (entry.jwtAuth ?? []).entries()) {
        const where = `consumers.${name}.jwtAuth.${index}`;
        if (registry.#jwt.has(credential.key)) throw new Error(`${where}: key ${credential.key} is taken by another credential`);
        let keyObject: KeyObject;
        let algorithm: string | undefined = credential.algorithm;
        if (credential.secret !== undefined || credential.secretFile !== undefined) {
          const value = await secret(credential.secret, credential.secretFile);
          const bytes = credential.secretIsBase64 ? Buffer.from(value, "base64") : Buffer.from(value, "utf8");
          if (bytes.length < 32) throw new Error(`${where}: an HMAC secret needs at least 32 bytes`);
          keyObject = createSecretKey(bytes);
          algorithm ??= "HS256";
          if (!algorithm.startsWith("HS")) throw new Error(`${where}: a secret goes with HS256, HS384 or HS512, not ${algorithm}`);
        } else {
          const pem = await secret(credential.publicKey, credential.publicKeyFile);
          keyObject = parsePublicKey(pem, where);
          algorithm ??= algorithmOf(keyObject, where);
          if (algorithm.startsWith("HS")) throw new Error(`${where}: a public key cannot verify ${algorithm}`);
        }
        if (algorithm === undefined) throw new Error(`${where}: no algorithm`);
        registry.#jwt.set(credential.key, Object.freeze({ consumer, key: credential.key, algorithm, keyObject }));
      }
    }
    return registry;
  }
}

/** A PEM public key or certificate as a KeyObject; the error never quotes the key. */
export function parsePublicKey(pem: string, where: string): KeyObject {
  try {
    const key = createPublicKey(pem);
    if (key.type !== "public") throw new Error("not a public key");
    return key;
  } catch {
    throw new Error(`${where}: not a PEM public key or certificate`);
  }
}

/** The algorithm a public key implies: RSA → RS256, P-256/384/521 → ES256/384/512, Ed25519 → EdDSA. */
export function algorithmOf(key: KeyObject, where: string): string {
  const type = key.asymmetricKeyType;
  if (type === "rsa") return "RS256";
  if (type === "rsa-pss") return "PS256";
  if (type === "ed25519" || type === "ed448") return "EdDSA";
  if (type === "ec") {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === "prime256v1") return "ES256";
    if (curve === "secp384r1") return "ES384";
    if (curve === "secp521r1") return "ES512";
  }
  throw new Error(`${where}: set algorithm: the key's type (${type}) does not say which one`);
}

const registries = new WeakMap<object, Promise<ConsumerRegistry>>();

/**
 * The registry of this load's `consumers` (an empty one without them): built on the first call
 * with a given config, then shared. A config error (a missing file, a duplicate key) rejects.
 */
export function consumerRegistry(env: Pick<PluginEnv, "config" | "readFile">): Promise<ConsumerRegistry> {
  let registry = registries.get(env.config);
  if (registry === undefined) {
    const parsed = consumersSchema.parse(env.config.consumers ?? {});
    registry = ConsumerRegistry.build(parsed, env.readFile);
    registries.set(env.config, registry);
  }
  return registry;
}
