/**
 * OpenTelemetry tracing: the client's W3C `traceparent` is taken (or a trace started), one SERVER
 * span covers the request, and the upstream gets a `traceparent` naming that span. Spans go out
 * over OTLP/HTTP (JSON) through the SDK's batch processor when an endpoint is configured;
 * without one, traces are still propagated.
 */
import type { IncomingMessage } from "node:http";
import { type Context, ROOT_CONTEXT, type Span, SpanKind, SpanStatusCode, type TextMapGetter, type Tracer } from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BasicTracerProvider, BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler } from "@opentelemetry/sdk-trace-base";
import type { AccessRecord } from "./record.js";

export interface TracingOptions {
  /** OTLP/HTTP traces URL, e.g. http://127.0.0.1:4318/v1/traces; none: propagate only. */
  otlpEndpoint?: string | undefined;
  serviceName: string;
  /** Share of new traces sampled (0..1); a client's sampled flag is followed. */
  sampleRatio: number;
  headers?: Record<string, string> | undefined;
}

const rawGetter: TextMapGetter<string[]> = {
  keys: (raw) => raw.filter((_, i) => i % 2 === 0).map((k) => k.toLowerCase()),
  get: (raw, key) => {
    for (let i = 0; i < raw.length; i += 2) if ((raw[i] as string).toLowerCase() === key) return raw[i + 1];
    return undefined;
  },
};

export class Tracing {
  readonly options: TracingOptions;
  readonly #provider: BasicTracerProvider;
  readonly #tracer: Tracer;
  readonly #propagator = new W3CTraceContextPropagator();

  constructor(options: TracingOptions) {
    this.options = options;
    const spanProcessors = options.otlpEndpoint
      ? [
          new BatchSpanProcessor(new OTLPTraceExporter({ url: options.otlpEndpoint, headers: options.headers ?? {} }), {
            scheduledDelayMillis: 1000,
          }),
        ]
      : [];
    this.#provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ "service.name": options.serviceName }),
      sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(options.sampleRatio) }),
      spanProcessors,
    });
    this.#tracer = this.#provider.getTracer("portico");
  }

  /** Starts the request's span, child of the client's traceparent if it sent a valid one. */
  start(req: IncomingMessage, path: string): { span: Span; traceparent: string } {
    const parent: Context = this.#propagator.extract(ROOT_CONTEXT, req.rawHeaders, rawGetter);
    const method = req.method ?? "GET";
    const span = this.#tracer.startSpan(
      method,
      { kind: SpanKind.SERVER, attributes: { "http.request.method": method, "url.path": path, "network.protocol.version": req.httpVersion } },
      parent,
    );
    const sc = span.spanContext();
    return { span, traceparent: `00-${sc.traceId}-${sc.spanId}-0${sc.traceFlags & 1}` };
  }

  end(span: Span, record: AccessRecord): void {
    span.updateName(record.location ? `${record.method} ${record.location}` : record.method);
    span.setAttribute("http.response.status_code", record.status);
    span.setAttribute("http.route", record.location);
    span.setAttribute("portico.virtual_host", record.virtualHost);
    span.setAttribute("portico.request_id", record.requestId);
    span.setAttribute("client.address", record.client);
    if (record.upstream !== null) span.setAttribute("server.address", record.upstream);
    if (record.upstreamStatus !== null) span.setAttribute("portico.upstream.status_code", record.upstreamStatus);
    if (record.consumer !== null) span.setAttribute("enduser.id", record.consumer);
    if (record.status >= 500 || record.status === 0) span.setStatus({ code: SpanStatusCode.ERROR });
    span.end();
  }

  flush(): Promise<void> {
    return this.#provider.forceFlush();
  }

  close(): Promise<void> {
    return this.#provider.shutdown();
  }
}
