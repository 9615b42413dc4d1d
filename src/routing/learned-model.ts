import { countWords, extraFeature, type FeatureConfig, lengthBucket, normaliseForFeatures, textFeatures } from "./features.js";
import type { RuleClassification } from "./rules.js";
import { ROUTE_KINDS, type RouteKind } from "./types.js";

/**
 * A trained router model as scripts/train-router.ts writes it (src/routing/trained-model.ts):
 * a multinomial logistic regression over hashed character n-grams and words, plus a small table
 * of extra features (the rules' decision, the turn's length), with int8 weights in base64.
 */
export interface TrainedModel {
  /** The kinds, in the order of the weight columns (must equal {@link ROUTE_KINDS}). */
  kinds: readonly RouteKind[];
  features: FeatureConfig;
  /** log2 of the extra-feature table size. */
  extraBits: number;
  /** Whether the rules' decision is a feature (then the rules run before the model). */
  ruleFeatures: boolean;
  /** Softmax temperature fitted on out-of-fold predictions, so that confidences are calibrated. */
  temperature: number;
  /** Default low-confidence threshold for the fast path. */
  minConfidence: number;
  bias: readonly number[];
  textScale: number;
  extraScale: number;
  /** base64 int8, `2 ** features.bits` buckets × kinds, bucket-major. */
  text: string;
  /** base64 int8, `2 ** extraBits` buckets × kinds, bucket-major. */
  extra: string;
}

/** A model ready to score: weights decoded. */
export interface LoadedModel {
  readonly model: TrainedModel;
  readonly text: Int8Array;
  readonly extra: Int8Array;
  /** Milliseconds it took to decode the weights. */
  readonly loadMs: number;
}

type NodeBuffer = { from(s: string, encoding: "base64"): Uint8Array };

/** base64 to int8: Node's native decoder when there is one, `atob` elsewhere (browsers, edge runtimes). */
function decodeBase64(s: string): Int8Array {
  const buffer = (globalThis as { Buffer?: NodeBuffer }).Buffer;
  if (buffer) {
    const bytes = buffer.from(s, "base64");
    const out = new Int8Array(bytes.byteLength);
    out.set(new Int8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    return out;
  }
  const bin = atob(s);
  const out = new Int8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Decodes a model's weights and checks that they fit its declared shape. */
export function loadModel(model: TrainedModel): LoadedModel {
  const t0 = performance.now();
  if (model.kinds.length !== ROUTE_KINDS.length || model.kinds.some((k, i) => k !== ROUTE_KINDS[i])) {
    throw new Error(`learned router: the model's kinds ${model.kinds.join(",")} do not match ${ROUTE_KINDS.join(",")}; retrain it`);
  }
  const text = decodeBase64(model.text);
  const extra = decodeBase64(model.extra);
  const K = ROUTE_KINDS.length;
  if (text.length !== (1 << model.features.bits) * K || extra.length !== (1 << model.extraBits) * K) {
    throw new Error("learned router: the model's weights do not match its declared size; retrain it");
  }
  return { model, text, extra, loadMs: performance.now() - t0 };
}

/** Names of the extra features of a turn. The training script uses the same function. */
export function extraFeatureNames(norm: string, rule: RuleClassification | undefined): string[] {
  const names = [`len:${lengthBucket(countWords(norm))}`];
  if (norm.includes("\n")) names.push("multiline");
  if (rule) names.push(`rule:${rule.kind}`, `rule:${rule.reason}`);
  return names;
}

const K = ROUTE_KINDS.length;
/** Bucket of each extra feature name, memoised (the names are few: rule reasons, length buckets). */
const extraBuckets = new Map<string, number>();
const featureBuffer = new Int32Array(8192);

/**
 * Probabilities of each kind (in {@link ROUTE_KINDS} order) for a turn, written into `out`.
 * `norm` is the output of {@link normaliseForFeatures}; `rule` the rules' decision (when the
 * model was trained with it).
 */
export function scoreNormalised(loaded: LoadedModel, norm: string, rule: RuleClassification | undefined, out: Float64Array): Float64Array {
  const { model, text, extra } = loaded;
  const n = textFeatures(norm, model.features, featureBuffer);
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let s4 = 0;
  for (let i = 0; i < n; i++) {
    const j = featureBuffer[i]! * K;
    s0 += text[j]!;
    s1 += text[j + 1]!;
    s2 += text[j + 2]!;
    s3 += text[j + 3]!;
    s4 += text[j + 4]!;
  }
  const ts = n > 0 ? model.textScale / Math.sqrt(n) : 0;
  out[0] = model.bias[0]! + s0 * ts;
  out[1] = model.bias[1]! + s1 * ts;
  out[2] = model.bias[2]! + s2 * ts;
  out[3] = model.bias[3]! + s3 * ts;
  out[4] = model.bias[4]! + s4 * ts;
  for (const name of extraFeatureNames(norm, model.ruleFeatures ? rule : undefined)) {
    let b = extraBuckets.get(name);
    if (b === undefined) {
      b = extraFeature(name, model.extraBits);
      if (extraBuckets.size < 4096) extraBuckets.set(name, b);
    }
    const j = b * K;
    for (let k = 0; k < K; k++) out[k]! += extra[j + k]! * model.extraScale;
  }
  // Softmax with the calibration temperature.
  let max = -Infinity;
  for (let k = 0; k < K; k++) {
    out[k] = out[k]! / model.temperature;
    if (out[k]! > max) max = out[k]!;
  }
  let sum = 0;
  for (let k = 0; k < K; k++) sum += out[k] = Math.exp(out[k]! - max);
  for (let k = 0; k < K; k++) out[k]! /= sum;
  return out;
}

/** {@link scoreNormalised} from raw text. */
export function scoreText(loaded: LoadedModel, text: string, rule: RuleClassification | undefined): Float64Array {
  return scoreNormalised(loaded, normaliseForFeatures(text), rule, new Float64Array(K));
}
