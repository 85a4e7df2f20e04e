// What sanscode reads from Asterisk 22 ARI, typed, and checked where it enters: every event and
// answer goes through one of these parsers before the adapter (ivr/ari.ts) looks at it, so a
// payload of an unexpected shape becomes `null` (logged and skipped) instead of a TypeError
// deep in a listener. Only the fields we read are declared; the reference is the Swagger
// description Asterisk ships (rest-api/events.json, channels.json, playbacks.json,
// asterisk.json). Fields the Swagger marks required but we can live without stay optional, so
// a channel with no caller ID still parses (its caller is withheld, not malformed).
import { z } from 'zod';

const callerIdSchema = z.object({ number: z.string().optional(), name: z.string().optional() });

/** Where the channel is in the dialplan: for ours, `Stasis(sanscode,<dialed>)`. */
const dialplanSchema = z.object({
  context: z.string().optional(),
  exten: z.string().optional(),
  app_name: z.string().optional(),
  app_data: z.string().optional(),
});

/** Channel (channels.json): the JSON of a channel in events and in `GET /channels`. */
const channelSchema = z.object({
  id: z.string().min(1),
  /** Down, Ring, Ringing, Up…: a string, so a state a later Asterisk adds still parses. */
  state: z.string().optional(),
  caller: callerIdSchema.optional(),
  dialplan: dialplanSchema.optional(),
});
export type AriChannel = z.infer<typeof channelSchema>;

/** StasisStart (events.json): a channel entered our application, with its Stasis() arguments. */
const stasisStartSchema = z.object({
  args: z.array(z.string()).default([]),
  /** Entity id of the Asterisk node that raised the event. */
  asterisk_id: z.string().optional(),
  channel: channelSchema,
});
export type AriStasisStart = z.infer<typeof stasisStartSchema>;

/** StasisEnd: the channel left our application (hung up, or moved away). */
const stasisEndSchema = z.object({ channel: channelSchema });
export type AriStasisEnd = z.infer<typeof stasisEndSchema>;

/**
 * ChannelHangupRequest: someone asked for the channel to hang up. `cause` is Q.850 and is absent
 * when the caller sent a plain BYE; `soft` marks a hang-up requested through ARI (our own).
 */
const hangupRequestSchema = z.object({
  cause: z.number().int().optional(),
  soft: z.boolean().optional(),
  channel: channelSchema,
});
export type AriHangupRequest = z.infer<typeof hangupRequestSchema>;

/** Playback (playbacks.json), as PlaybackFinished carries it. */
const playbackSchema = z.object({
  id: z.string().min(1),
  /** queued, playing, continuing, done, failed. */
  state: z.string().optional(),
});
const playbackFinishedSchema = z.object({ playback: playbackSchema });
export type AriPlaybackFinished = z.infer<typeof playbackFinishedSchema>;

/** ChannelStateChange: the channel's state moved (to `Up` once answered). */
const stateChangeSchema = z.object({ channel: channelSchema });
export type AriChannelStateChange = z.infer<typeof stateChangeSchema>;

/** ChannelDtmfReceived: a key the caller pressed (`digit`: 0-9, *, #, A-D). */
const dtmfReceivedSchema = z.object({ digit: z.string().min(1), channel: channelSchema });
export type AriDtmfReceived = z.infer<typeof dtmfReceivedSchema>;

/** AsteriskInfo (asterisk.json), `GET /asterisk/info`: we read the node's entity id. */
const asteriskInfoSchema = z.object({
  system: z.object({ entity_id: z.string().optional() }).optional(),
});
export type AriAsteriskInfo = z.infer<typeof asteriskInfoSchema>;

function parseWith<T>(schema: z.ZodType<T>, value: unknown): T | null {
  const parsed = schema.safeParse(value);
  return parsed.success ? parsed.data : null;
}

export function parseChannel(value: unknown): AriChannel | null {
  return parseWith(channelSchema, value);
}

export function parseStasisStart(value: unknown): AriStasisStart | null {
  return parseWith(stasisStartSchema, value);
}

export function parseStasisEnd(value: unknown): AriStasisEnd | null {
  return parseWith(stasisEndSchema, value);
}

export function parseHangupRequest(value: unknown): AriHangupRequest | null {
  return parseWith(hangupRequestSchema, value);
}

export function parsePlaybackFinished(value: unknown): AriPlaybackFinished | null {
  return parseWith(playbackFinishedSchema, value);
}

export function parseChannelStateChange(value: unknown): AriChannelStateChange | null {
  return parseWith(stateChangeSchema, value);
}

export function parseDtmfReceived(value: unknown): AriDtmfReceived | null {
  return parseWith(dtmfReceivedSchema, value);
}

export function parseAsteriskInfo(value: unknown): AriAsteriskInfo | null {
  return parseWith(asteriskInfoSchema, value);
}

/**
 * The answer of `GET /channels`: the channels that parse. One we cannot read has no id we could
 * act on; it is left out rather than failing the whole resync. Null when it is not a list.
 */
export function parseChannelList(value: unknown): AriChannel[] | null {
  if (!Array.isArray(value)) return null;
  return value.map(parseChannel).filter((c): c is AriChannel => c !== null);
}
