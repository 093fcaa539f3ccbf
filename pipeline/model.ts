/**
 * Online logistic regression in plain TypeScript: one SGD step per example over a sparse feature
 * vector, with L2 shrinkage applied lazily to the touched weights only (a dense decay per step would
 * cost 2^20 multiplications per example), and a per-example weight so hard examples fed back from
 * the previous epoch count more.
 */
import type { FeatureVector } from './codec.js';
import { FEATURE_BITS } from './features.js';

export interface ModelOptions {
  /** SGD step size. @default 0.05 */
  learningRate?: number;
  /** L2 penalty per step on the touched weights. @default 1e-4 */
  l2?: number;
}

/** Log loss of one prediction, clamped so a confident mistake costs a finite amount. */
export function logLoss(label: number, p: number): number {
  const q = Math.min(1 - 1e-7, Math.max(1e-7, p));
  return label === 1 ? -Math.log(q) : -Math.log(1 - q);
}

export class LogisticRegression {
  readonly weights = new Float64Array(1 << FEATURE_BITS);
  private readonly lr: number;
  private readonly l2: number;

  constructor(options: ModelOptions = {}) {
    this.lr = options.learningRate ?? 0.05;
    this.l2 = options.l2 ?? 1e-4;
  }

  /** P(label = 1). */
  predict(x: FeatureVector): number {
    let z = 0;
    for (let i = 0; i < x.indexes.length; i++) z += this.weights[x.indexes[i]!]! * x.values[i]!;
    return 1 / (1 + Math.exp(-z));
  }

  /** One SGD step; returns the example's log loss before the step. */
  train(x: FeatureVector, weight = 1, learningRate = this.lr): number {
    const p = this.predict(x);
    const g = (p - x.label) * weight * learningRate;
    for (let i = 0; i < x.indexes.length; i++) {
      const k = x.indexes[i]!;
      this.weights[k] = this.weights[k]! * (1 - learningRate * this.l2) - g * x.values[i]!;
    }
    return logLoss(x.label, p);
  }
}
