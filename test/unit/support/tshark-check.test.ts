/**
 * The tshark check's comparison (test/support/tshark-check.ts): what counts as a disagreement.
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import type { TsharkFrame } from '../../support/sharkd.js';
import { compareDescriptions, describeTshark, otherProtocolStreams } from '../../support/tshark-check.js';

function frame(over: Partial<TsharkFrame>): TsharkFrame {
  return {
    frame: 1,
    payloadProtocol: null,
    stream: 0,
    src: '127.0.0.1',
    srcPort: 50000,
    dst: '127.0.0.1',
    dstPort: 44818,
    syn: false,
    ack: true,
    fin: false,
    rst: false,
    requests: 0,
    h2Methods: 0,
    h2PushPromises: 0,
    statusCodes: [],
    expert: '',
    tls: null,
    ...over,
  };
}

const ours = [{ pair: '127.0.0.1 44818|127.0.0.1 50000', requests: 1, firstFin: null }];

test('tshark check: a request tshark did not count is a disagreement', () => {
  const theirs = describeTshark([frame({ payloadProtocol: 'data' })]);
  theirs[0]!.pair = ours[0]!.pair;
  assert.deepEqual(compareDescriptions(ours, theirs), [`${ours[0]!.pair}: 1 requests, tshark 0`]);
});

test('tshark check: a stream tshark dissected as the protocol of its port is not compared on requests, and counted', () => {
  otherProtocolStreams.clear();
  const theirs = describeTshark([frame({ payloadProtocol: 'enip' })]);
  theirs[0]!.pair = ours[0]!.pair;
  assert.equal(theirs[0]!.otherProtocol, 'enip on port 44818');
  assert.deepEqual(compareDescriptions(ours, theirs), []);
  assert.deepEqual([...otherProtocolStreams], [['enip on port 44818', 1]]);
  // Its first FIN is still compared.
  const fin = describeTshark([frame({ payloadProtocol: 'enip', fin: true })]);
  fin[0]!.pair = ours[0]!.pair;
  assert.equal(compareDescriptions(ours, fin).length, 1);
  otherProtocolStreams.clear();
});

test('tshark check: requests in a TLS stream are compared (none on either side without the keys; with them, the HTTP inside)', () => {
  const theirs = describeTshark([frame({ payloadProtocol: 'tls', requests: 2 })]);
  theirs[0]!.pair = ours[0]!.pair;
  assert.equal(theirs[0]!.otherProtocol, undefined);
  assert.deepEqual(compareDescriptions(ours, theirs), [`${ours[0]!.pair}: 1 requests, tshark 2`]);
});

test('tshark check: TLS facts are compared on connections either side saw as TLS', () => {
  const hello = frame({
    stream: 0,
    tls: {
      types: ['Client Hello'],
      versions: ['TLS 1.2'],
      supportedVersions: ['TLS 1.3', 'TLS 1.2'],
      cipherSuites: ['TLS_AES_128_GCM_SHA256'],
      serverNames: ['example.com'],
      alpn: ['h2', 'http/1.1'],
      pskSelected: false,
      randoms: ['aa'],
    },
  });
  const serverHello = frame({
    src: '127.0.0.1',
    srcPort: 44818,
    dstPort: 50000,
    tls: {
      types: ['Server Hello'],
      versions: ['TLS 1.2'],
      supportedVersions: ['TLS 1.3'],
      cipherSuites: ['TLS_AES_128_GCM_SHA256'],
      serverNames: [],
      alpn: [],
      pskSelected: true,
      randoms: ['bb'],
    },
  });
  const [theirs] = describeTshark([hello, serverHello]);
  assert.deepEqual(theirs!.tls, {
    clientHellos: 1,
    version: 'TLS 1.3',
    cipherSuite: 'TLS_AES_128_GCM_SHA256',
    sni: 'example.com',
    alpnOffered: 'h2,http/1.1',
    alpnChosen: null,
    resumed: true,
  });
  const mine = { ...ours[0]!, pair: theirs!.pair, requests: 0, tls: { ...theirs!.tls!, resumed: false } };
  assert.deepEqual(compareDescriptions([mine], [theirs!]), [`${theirs!.pair}: TLS resumed false, tshark true`]);
  // A connection only one side saw as TLS.
  assert.deepEqual(compareDescriptions([{ ...mine, tls: undefined }], [theirs!]), [
    `${theirs!.pair}: 0 TLS ClientHellos, tshark 1`,
  ]);
});

test('tshark check: HTTP/2 requests are the :method blocks of the client (the SYN sender), not the server`s PUSH_PROMISEs', () => {
  const client = { src: '127.0.0.1', srcPort: 50000, dst: '127.0.0.1', dstPort: 44818 };
  const server = { src: '127.0.0.1', srcPort: 44818, dst: '127.0.0.1', dstPort: 50000 };
  const theirs = describeTshark([
    frame({ ...client, syn: true, ack: false }),
    frame({ ...client, payloadProtocol: 'http2', h2Methods: 2 }),
    frame({ ...server, payloadProtocol: 'http2', h2Methods: 1 }),
    frame({ ...client, payloadProtocol: 'http2', h2Methods: 1, requests: 0 }),
  ]);
  assert.equal(theirs[0]!.requests, 3);
  assert.equal(theirs[0]!.otherProtocol, undefined);
  // Without a SYN the client is not known: every :method block counts.
  assert.equal(
    describeTshark([frame({ ...server, h2Methods: 1 }), frame({ ...client, h2Methods: 1 })])[0]!.requests,
    2,
  );
});
