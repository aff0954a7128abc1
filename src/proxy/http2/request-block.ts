/**
 * The checks RFC 9113 section 8.2 and 8.3 ask of a request's (or its trailers') header
 * block, field by field as the HPACK decoder hands them over: lowercase names of token
 * characters, no NUL, CR or LF in values, the request pseudo-fields once each and
 * before the regular ones, no connection-specific fields, TE only "trailers", and the
 * header list within its limits. What fails makes the block malformed: a stream error
 * (PROTOCOL_ERROR), or ENHANCE_YOUR_CALM for a list over the limits. No I/O.
 */

import { contentLengthOf, fieldProblem, valueProblem } from './wire/field-rules.js';

/** Bytes a field counts for besides its name and value (RFC 9113 section 6.5.2). */
const FIELD_OVERHEAD = 32;

export const enum Verdict {
  OK,
  /** A stream error PROTOCOL_ERROR. */
  MALFORMED,
  /** Over the header list size or field count: a stream error ENHANCE_YOUR_CALM. */
  TOO_LARGE,
}

/** One header block being decoded; reset() before each. */
export class RequestBlock {
  /** Request fields as [name, value, ...] (pseudo-fields included), as node:http2's raw list. */
  raw: string[] = [];
  /** Trailer fields as "name: value" CRLF lines. */
  lines = '';
  verdict = Verdict.OK;
  why = '';
  /** The content-length value, -1 without one. */
  contentLength = -1;
  private trailers = false;
  private regular = false;
  private size = 0;
  private count = 0;
  private method = false;
  private scheme = false;
  private path = false;
  private authority = false;
  private protocol = false;
  private connect = false;

  constructor(
    private readonly maxListSize: number,
    private readonly maxFields: number,
  ) {}

  reset(trailers: boolean): void {
    this.raw = [];
    this.lines = '';
    this.verdict = Verdict.OK;
    this.why = '';
    this.contentLength = -1;
    this.trailers = trailers;
    this.regular = false;
    this.size = 0;
    this.count = 0;
    this.method = this.scheme = this.path = this.authority = this.protocol = this.connect = false;
  }

  /** The decoder's sink. */
  readonly field = (name: string, value: string): void => {
    if (this.verdict !== Verdict.OK) return;
    this.size += name.length + value.length + FIELD_OVERHEAD;
    if (this.size > this.maxListSize || ++this.count > this.maxFields) {
      this.verdict = Verdict.TOO_LARGE;
      this.why = this.size > this.maxListSize ? `a header list over ${this.maxListSize} bytes` : `more than ${this.maxFields} fields`;
      return;
    }
    if (name.charCodeAt(0) === 0x3a) {
      const bad = valueProblem(name, value);
      if (bad !== null) return this.bad(bad);
      this.pseudo(name, value);
      return;
    }
    this.regular = true;
    const bad = fieldProblem(name, value);
    if (bad !== null) return this.bad(bad);
    if (this.trailers) {
      this.lines += `${name}: ${value}\r\n`;
      return;
    }
    if (name === 'te' && value !== 'trailers') return this.bad('TE other than "trailers"');
    if (name === 'content-length') {
      const n = contentLengthOf(value, this.contentLength);
      if (typeof n === 'string') return this.bad(n);
      this.contentLength = n;
    }
    this.raw.push(name, value);
  };

  private pseudo(name: string, value: string): void {
    if (this.trailers) return this.bad(`pseudo-field ${name} in trailers`);
    if (this.regular) return this.bad(`pseudo-field ${name} after the regular fields`);
    switch (name) {
      case ':method':
        if (this.method) return this.bad('two :method fields');
        this.method = true;
        this.connect = value === 'CONNECT';
        if (value === '') return this.bad('an empty :method');
        break;
      case ':scheme':
        if (this.scheme) return this.bad('two :scheme fields');
        this.scheme = true;
        break;
      case ':path':
        if (this.path) return this.bad('two :path fields');
        this.path = true;
        if (value === '') return this.bad('an empty :path');
        break;
      case ':authority':
        if (this.authority) return this.bad('two :authority fields');
        this.authority = true;
        break;
      case ':protocol':
        if (this.protocol) return this.bad('two :protocol fields');
        this.protocol = true;
        break;
      default:
        return this.bad(`pseudo-field ${name} in a request`);
    }
    this.raw.push(name, value);
  }

  /** After the last field: the request pseudo-fields a request must have (RFC 9113 section 8.3.1). */
  finish(): void {
    if (this.verdict !== Verdict.OK || this.trailers) return;
    if (!this.method) return this.bad('no :method');
    if (this.connect && !this.protocol) {
      // CONNECT (section 8.5): :authority only; answered 501 further on
      if (this.scheme || this.path) this.bad('CONNECT with :scheme or :path');
      else if (!this.authority) this.bad('CONNECT without :authority');
      return;
    }
    if (!this.scheme) return this.bad('no :scheme');
    if (!this.path) return this.bad('no :path');
  }

  private bad(why: string): void {
    this.verdict = Verdict.MALFORMED;
    this.why = why;
  }
}
