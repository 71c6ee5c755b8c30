// wslay/redis: carries publish() across processes (and machines) through Redis pub/sub, with Redis clients the user
// already has (ioredis, or node-redis v4 and later; neither is a dependency of this package).
//
// Each topic with local subscribers is one Redis channel, prefix + topic, subscribed only while the topic has local
// subscribers (the engine reports 0 → 1 and 1 → 0 through PublishBridge). A local publish() is delivered here by
// the engine and also published to Redis in a small binary envelope; a message from Redis is delivered with
// publishLocal(), so it never goes back to Redis. Delivery is at most once, as Redis pub/sub's: a message published
// while a client is disconnected is lost (counted in `lost` on the publishing side), never queued or thrown.
import { randomBytes } from 'node:crypto';

import { publishLocal, setPublishBridge, type PublishBridge } from './pubsub.js';

/** The part of an ioredis client the bridge uses. */
export interface IoRedisClient {
  readonly status: string;
  publish(channel: string, message: Buffer): Promise<unknown>;
  subscribe(...channels: string[]): Promise<unknown>;
  unsubscribe(...channels: string[]): Promise<unknown>;
  on(event: string, listener: (...args: any[]) => void): unknown;
  off(event: string, listener: (...args: any[]) => void): unknown;
}

type BufferListener = (message: Buffer, channel: Buffer) => void;

/** The part of a node-redis (v4 and later) client the bridge uses. */
export interface NodeRedisClient {
  readonly isReady: boolean;
  readonly isOpen: boolean;
  publish(channel: string, message: Buffer): Promise<unknown>;
  subscribe(channel: string, listener: BufferListener, bufferMode: true): Promise<unknown>;
  unsubscribe(channel: string, listener: BufferListener, bufferMode: true): Promise<unknown>;
  on(event: string, listener: (...args: any[]) => void): unknown;
  off(event: string, listener: (...args: any[]) => void): unknown;
}

export type RedisClient = IoRedisClient | NodeRedisClient;

export interface RedisBridgeOptions {
  /** Publishes this process's messages. Must not be `subscriber`: a subscribed Redis connection cannot publish. */
  publisher: RedisClient;
  /** Subscribes to the channels of the topics with local subscribers; used for nothing else. */
  subscriber: RedisClient;
  /** Redis channel = prefix + topic. Default 'wslay:'. */
  prefix?: string;
}

export interface RedisBridgeStats {
  /** Local publishes that Redis accepted. */
  sent: number;
  /** Messages from other processes delivered to local subscribers. */
  received: number;
  /** Local publishes that did not reach Redis: the publisher was not connected, or the PUBLISH failed. */
  lost: number;
  /** Messages on our channels that were not in the bridge's envelope (published by something else); dropped. */
  malformed: number;
  /** 'error' events of the two clients and failed SUBSCRIBE/UNSUBSCRIBE commands. */
  errors: number;
  /** The Redis channels subscribed now. */
  channels: number;
}

// The envelope: [version][opcode][flags][origin: 8 bytes] payload. The origin is random per bridge (one bridge per
// process), so a process recognises its own messages coming back from Redis: they were delivered locally already.
const VERSION = 1;
const FLAG_COMPRESS = 1;
const ORIGIN_BYTES = 8;
const HEADER_BYTES = 3 + ORIGIN_BYTES;
const TEXT = 1;
const BINARY = 2;

type Kind = 'ioredis' | 'node-redis';
/** The events by which a client says its connection is gone (ioredis: close, end; node-redis: reconnecting, end). */
const PUBLISHER_DOWN = ['close', 'reconnecting', 'end'];

function kindOf(client: unknown, name: string): Kind {
  const c = client as Partial<IoRedisClient & NodeRedisClient> | null;
  if (c && typeof c === 'object' && typeof c.publish === 'function' && typeof c.subscribe === 'function') {
    if (typeof c.isOpen === 'boolean') return 'node-redis';
    if (typeof c.status === 'string') return 'ioredis';
  }
  throw new TypeError(`RedisBridge: ${name} must be an ioredis client or a node-redis (v4+) client`);
}

function isReady(client: RedisClient, kind: Kind): boolean {
  return kind === 'ioredis' ? (client as IoRedisClient).status === 'ready' : (client as NodeRedisClient).isReady;
}

/**
 * Bridges this process's publish() to Redis. Construct it once per process, on the main thread (it installs itself
 * with setPublishBridge); close() detaches it and leaves the clients open (they are the caller's).
 */
export class RedisBridge implements PublishBridge {
  readonly prefix: string;
  readonly #publisher: RedisClient;
  readonly #subscriber: RedisClient;
  readonly #publisherKind: Kind;
  readonly #subscriberKind: Kind;
  readonly #header = Buffer.alloc(HEADER_BYTES);
  readonly #channels = new Set<string>();
  #sent = 0;
  #received = 0;
  #lost = 0;
  #malformed = 0;
  #errors = 0;
  #closed = false;
  /** PUBLISH commands not answered yet, and the publisher connection they went out on (see #onPublisherDown). */
  #inFlight = 0;
  #publisherConnection = 0;

  constructor(options: RedisBridgeOptions) {
    if (!options || typeof options !== 'object') throw new TypeError('RedisBridge: options must be an object');
    const { publisher, subscriber, prefix = 'wslay:' } = options;
    if (typeof prefix !== 'string') throw new TypeError('RedisBridge: prefix must be a string');
    this.#publisherKind = kindOf(publisher, 'publisher');
    this.#subscriberKind = kindOf(subscriber, 'subscriber');
    if (publisher === subscriber) {
      throw new TypeError('RedisBridge: publisher and subscriber must be two clients (a subscriber cannot publish)');
    }
    this.prefix = prefix;
    this.#publisher = publisher;
    this.#subscriber = subscriber;
    this.#header[0] = VERSION;
    randomBytes(ORIGIN_BYTES).copy(this.#header, 3);

    // Without an 'error' listener node-redis throws a client's errors (the process would end when Redis goes away)
    // and ioredis logs each one; both reconnect by themselves.
    publisher.on('error', this.#onError);
    subscriber.on('error', this.#onError);
    for (const event of PUBLISHER_DOWN) publisher.on(event, this.#onPublisherDown);
    if (this.#subscriberKind === 'ioredis') subscriber.on('messageBuffer', this.#onIoRedisMessage);
    // Both clients resubscribe after a reconnect by themselves (ioredis unless autoResubscribe is false), but a
    // SUBSCRIBE issued during the outage may have been dropped: on each 'ready' the bridge subscribes its channels
    // again (a no-op in Redis and in the clients for a channel that is subscribed).
    subscriber.on('ready', this.#resubscribe);
    try {
      setPublishBridge(this); // calls topicActive for each topic that has local subscribers now
    } catch (err) {
      this.#removeListeners(); // e.g. not on the main thread
      throw err;
    }
  }

  /** True while both clients are connected and ready. */
  get ready(): boolean {
    return isReady(this.#publisher, this.#publisherKind) && isReady(this.#subscriber, this.#subscriberKind);
  }

  /** Local publishes that did not reach Redis (see RedisBridgeStats.lost). */
  get lost(): number {
    return this.#lost;
  }

  get stats(): RedisBridgeStats {
    return {
      sent: this.#sent,
      received: this.#received,
      lost: this.#lost,
      malformed: this.#malformed,
      errors: this.#errors,
      channels: this.#channels.size,
    };
  }

  topicActive(topic: string): void {
    if (this.#closed) return;
    const channel = this.prefix + topic;
    if (this.#channels.has(channel)) return;
    this.#channels.add(channel);
    this.#subscribe(channel);
  }

  topicIdle(topic: string): void {
    if (this.#closed) return;
    const channel = this.prefix + topic;
    if (!this.#channels.delete(channel)) return;
    this.#unsubscribe(channel);
  }

  published(topic: string, data: Buffer, opcode: number, compress: boolean): void {
    if (this.#closed) return;
    // While disconnected a client would queue the command and send it after the reconnect, late; pub/sub here is
    // at most once, so the message is counted as lost instead.
    if (!isReady(this.#publisher, this.#publisherKind)) {
      this.#lost++;
      return;
    }
    const envelope = Buffer.allocUnsafe(HEADER_BYTES + data.length);
    this.#header.copy(envelope, 0);
    envelope[1] = opcode;
    envelope[2] = compress ? FLAG_COMPRESS : 0;
    data.copy(envelope, HEADER_BYTES);
    const connection = this.#publisherConnection;
    this.#inFlight++;
    const settle = (ok: boolean): void => {
      if (connection !== this.#publisherConnection) return; // counted as lost when the connection went down
      this.#inFlight--;
      if (ok) this.#sent++;
      else this.#lost++;
    };
    this.#publisher.publish(this.prefix + topic, envelope).then(
      () => settle(true),
      () => settle(false),
    );
  }

  /** Unsubscribes every channel, removes the bridge's listeners and detaches it from publish(). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    setPublishBridge(null);
    for (const channel of this.#channels) this.#unsubscribe(channel);
    this.#channels.clear();
    this.#removeListeners();
  }

  #removeListeners(): void {
    this.#publisher.off('error', this.#onError);
    for (const event of PUBLISHER_DOWN) this.#publisher.off(event, this.#onPublisherDown);
    this.#subscriber.off('error', this.#onError);
    this.#subscriber.off('messageBuffer', this.#onIoRedisMessage);
    this.#subscriber.off('ready', this.#resubscribe);
  }

  #subscribe(channel: string): void {
    const done =
      this.#subscriberKind === 'ioredis'
        ? (this.#subscriber as IoRedisClient).subscribe(channel)
        : (this.#subscriber as NodeRedisClient).subscribe(channel, this.#onNodeRedisMessage, true);
    done.catch(this.#onError);
  }

  #unsubscribe(channel: string): void {
    const done =
      this.#subscriberKind === 'ioredis'
        ? (this.#subscriber as IoRedisClient).unsubscribe(channel)
        : (this.#subscriber as NodeRedisClient).unsubscribe(channel, this.#onNodeRedisMessage, true);
    done.catch(this.#onError);
  }

  readonly #resubscribe = (): void => {
    for (const channel of this.#channels) this.#subscribe(channel);
  };

  // The PUBLISH commands in flight when the publisher's connection went down may never be answered (ioredis drops
  // them unless it resends them after the reconnect): all of them count as lost now, and their answers, if any
  // come, are ignored.
  readonly #onPublisherDown = (): void => {
    this.#lost += this.#inFlight;
    this.#inFlight = 0;
    this.#publisherConnection++;
  };

  readonly #onError = (): void => {
    this.#errors++;
  };

  readonly #onIoRedisMessage = (channel: Buffer, message: Buffer): void => {
    this.#deliver(channel.toString(), message);
  };

  readonly #onNodeRedisMessage: BufferListener = (message, channel) => {
    this.#deliver(channel.toString(), message);
  };

  #deliver(channel: string, message: Buffer): void {
    if (this.#closed || !this.#channels.has(channel)) return;
    const opcode = message[1];
    if (message.length < HEADER_BYTES || message[0] !== VERSION || (opcode !== TEXT && opcode !== BINARY)) {
      this.#malformed++;
      return;
    }
    if (message.compare(this.#header, 3, HEADER_BYTES, 3, HEADER_BYTES) === 0) return; // ours: delivered already
    this.#received++;
    const compress = (message[2] & FLAG_COMPRESS) !== 0;
    publishLocal(channel.slice(this.prefix.length), message.subarray(HEADER_BYTES), opcode, { compress });
  }
}
