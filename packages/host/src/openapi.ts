import { z } from '@impact-in/core';
import type { RouteDefinition } from './app.js';

const schemaOf = (schema: z.ZodType, io: 'input' | 'output') =>
  z.toJSONSchema(schema, { target: 'openapi-3.0', io, unrepresentable: 'any' });

/** The OpenAPI 3 document, generated from the same zod schemas that validate requests. */
export function buildOpenApi(routes: readonly RouteDefinition[]) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const parameters: unknown[] = [];
    for (const match of route.path.matchAll(/\{(\w+)\}/g)) {
      parameters.push({ name: match[1], in: 'path', required: true, schema: { type: 'string' } });
    }
    if (route.query) {
      const json = schemaOf(route.query, 'input') as {
        properties?: Record<string, unknown>;
        required?: string[];
      };
      for (const [name, schema] of Object.entries(json.properties ?? {})) {
        parameters.push({ name, in: 'query', required: json.required?.includes(name) ?? false, schema });
      }
    }
    const security =
      route.access === 'public' || route.access === 'webhook' ? [] : [{ apiKey: [] as string[] }];
    paths[route.path] ??= {};
    paths[route.path]![route.method.toLowerCase()] = {
      summary: route.summary,
      tags: [route.tag],
      description:
        route.access === 'webhook'
          ? 'Authenticated by the provider’s signature, not an API key.'
          : route.access === 'public'
            ? 'No authentication.'
            : `Needs an API key with the ${route.access} role (or higher).`,
      security,
      parameters,
      ...(route.body
        ? {
            requestBody: {
              required: true,
              content: { 'application/json': { schema: schemaOf(route.body, 'input') } },
            },
          }
        : route.rawBody
          ? {
              requestBody: {
                required: true,
                content: Object.fromEntries(
                  (route.rawBodyTypes ?? ['application/json']).map((type) => [
                    type,
                    {
                      schema:
                        type === 'multipart/form-data'
                          ? { type: 'object', properties: { file: { type: 'string', format: 'binary' } } }
                          : type.startsWith('application/json')
                            ? {}
                            : { type: 'string', format: 'binary' },
                    },
                  ]),
                ),
              },
            }
          : {}),
      responses: Object.fromEntries(
        Object.entries(route.responses).map(([status, response]) => [
          status,
          {
            description: response.description,
            ...(response.schema
              ? { content: { 'application/json': { schema: schemaOf(response.schema, 'output') } } }
              : {}),
          },
        ]),
      ),
    };
  }
  return {
    openapi: '3.0.3',
    info: {
      title: 'impact-in host API',
      version: '0.1.0',
      description:
        'Deliver impact events to CSR, HR and learning platforms; receive their webhooks and exports.',
    },
    components: {
      securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'An impact-in API key' } },
    },
    paths: {
      ...paths,
      '/health': {
        get: { summary: 'Overall health', tags: ['health'], responses: { 200: { description: 'ok' } } },
      },
      '/health/liveness': {
        get: { summary: 'Liveness probe', tags: ['health'], responses: { 200: { description: 'alive' } } },
      },
      '/health/readiness': {
        get: {
          summary: 'Readiness: database and bus',
          tags: ['health'],
          responses: { 200: { description: 'ready' }, 503: { description: 'not ready' } },
        },
      },
      '/metrics': {
        get: {
          summary: 'Prometheus metrics',
          tags: ['health'],
          responses: { 200: { description: 'text exposition format' } },
        },
      },
    },
  };
}

const escapeHtml = (text: string) =>
  text.replace(
    /[&<>"']/g,
    (char) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[char]!,
  );

/** A self-contained reference page (no CDN: it works on an offline machine). */
export function renderDocsPage(document: ReturnType<typeof buildOpenApi>): string {
  const sections = Object.entries(document.paths)
    .flatMap(([path, operations]) =>
      Object.entries(
        operations as Record<
          string,
          { summary: string; description?: string; requestBody?: unknown; parameters?: unknown[] }
        >,
      ).map(
        ([method, operation]) => `
      <section>
        <h2><span class="method ${method}">${method.toUpperCase()}</span> <code>${escapeHtml(path)}</code></h2>
        <p>${escapeHtml(operation.summary)}</p>
        ${operation.description ? `<p class="muted">${escapeHtml(operation.description)}</p>` : ''}
        ${operation.parameters?.length ? `<details><summary>Parameters</summary><pre>${escapeHtml(JSON.stringify(operation.parameters, null, 2))}</pre></details>` : ''}
        ${operation.requestBody ? `<details><summary>Request body</summary><pre>${escapeHtml(JSON.stringify(operation.requestBody, null, 2))}</pre></details>` : ''}
      </section>`,
      ),
    )
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>impact-in API reference</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:960px;margin:2rem auto;padding:0 1rem;color:#1d2330}
h1{margin-bottom:.2rem} .muted{color:#5b6475} section{border-top:1px solid #e3e6ec;padding:.6rem 0}
h2{font-size:1.05rem;margin:.4rem 0} code{font-size:.95rem} pre{background:#f5f6f8;padding:.6rem;overflow:auto;font-size:.8rem}
.method{display:inline-block;min-width:3.6rem;text-align:center;border-radius:4px;color:#fff;font-size:.8rem;padding:.1rem .3rem}
.get{background:#2f6fdf}.post{background:#1f9d55}.put{background:#c27c0e}.delete{background:#c53030}
</style></head><body>
<h1>impact-in API reference</h1>
<p class="muted">Version ${escapeHtml(document.info.version)}. Machine-readable: <a href="/openapi.json">/openapi.json</a>. Authenticate with <code>Authorization: Bearer &lt;api key&gt;</code>.</p>
${sections}
</body></html>`;
}
