import { XMLBuilder, XMLParser, XMLValidator } from 'fast-xml-parser';

/** SOAP 1.1 envelope namespace. */
export const SOAP_ENV_NS = 'http://schemas.xmlsoap.org/soap/envelope/';
/** OASIS WS-Security 1.0 secext namespace (`wsse`). */
export const WSSE_NS = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd';
/** Workday's web-service namespace (`wd`). */
export const WD_NS = 'urn:com.workday/bsvc';
/** The UsernameToken profile's Password Type for a plain-text password. */
export const PASSWORD_TEXT_TYPE =
  'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText';

const XML_NS = 'http://www.w3.org/XML/1998/namespace';

/** One element of a parsed document, with its namespace resolved. */
export interface XmlElement {
  /** Namespace URI; `''` for an unqualified element. */
  ns: string;
  local: string;
  /** Attributes keyed `{namespace}local` (`local` alone when unqualified). */
  attributes: Map<string, string>;
  children: XmlElement[];
  /** The element's own text (CDATA included), untrimmed. */
  text: string;
  /** Prefixes in scope, for QName values such as a SOAP `faultcode`. */
  scope: ReadonlyMap<string, string>;
}

/** The document is not well-formed XML, or uses something a SOAP message must not (a DTD). */
export class XmlSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'XmlSyntaxError';
  }
}

// fast-xml-parser's validator lets these through; a SOAP peer must not.
const DOCTYPE = /<!DOCTYPE/i;
const FOREIGN_ENTITY = /&(?!(?:lt|gt|amp|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);)/;
const NOT_XML_CHAR = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

/** Whether a string holds a character XML 1.0 cannot carry (control characters, lone surrogates). */
export function hasNonXmlCharacter(value: string): boolean {
  return NOT_XML_CHAR.test(value);
}

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
  // Decodes numeric character references; named ones other than XML's five were refused above.
  htmlEntities: true,
});

type OrderedNode = Record<string, unknown> & { ':@'?: Record<string, string> };

function splitName(qname: string): { prefix: string; local: string } {
  const colon = qname.indexOf(':');
  return colon < 0
    ? { prefix: '', local: qname }
    : { prefix: qname.slice(0, colon), local: qname.slice(colon + 1) };
}

function toElement(node: OrderedNode, parentScope: ReadonlyMap<string, string>): XmlElement {
  const name = Object.keys(node).find((key) => key !== ':@')!;
  const raw = node[':@'] ?? {};
  let scope = parentScope;
  for (const [attribute, value] of Object.entries(raw)) {
    if (attribute === 'xmlns' || attribute.startsWith('xmlns:')) {
      if (scope === parentScope) scope = new Map(parentScope);
      (scope as Map<string, string>).set(attribute === 'xmlns' ? '' : attribute.slice(6), value);
    }
  }
  const { prefix, local } = splitName(name);
  const ns = scope.get(prefix);
  if (ns === undefined && prefix !== '') throw new XmlSyntaxError(`undeclared namespace prefix "${prefix}"`);
  const attributes = new Map<string, string>();
  for (const [attribute, value] of Object.entries(raw)) {
    if (attribute === 'xmlns' || attribute.startsWith('xmlns:')) continue;
    const parts = splitName(attribute);
    // Unprefixed attributes are in no namespace, whatever the default namespace is.
    const attributeNs = parts.prefix === '' ? '' : parts.prefix === 'xml' ? XML_NS : scope.get(parts.prefix);
    if (attributeNs === undefined) throw new XmlSyntaxError(`undeclared namespace prefix "${parts.prefix}"`);
    if (hasNonXmlCharacter(value)) throw new XmlSyntaxError('attribute holds a character XML forbids');
    attributes.set(attributeNs ? `{${attributeNs}}${parts.local}` : parts.local, value);
  }
  const children: XmlElement[] = [];
  let text = '';
  for (const item of (node[name] as OrderedNode[] | undefined) ?? []) {
    if ('#text' in item) {
      const value = String(item['#text']);
      if (hasNonXmlCharacter(value)) throw new XmlSyntaxError('text holds a character XML forbids');
      text += value;
    } else {
      children.push(toElement(item, scope));
    }
  }
  return { ns: ns ?? '', local, attributes, children, text, scope };
}

/**
 * Parses a whole XML document into a namespace-resolved tree. Throws {@link XmlSyntaxError} for
 * anything that is not one well-formed element, and for DTDs (SOAP 1.1 forbids them, and they
 * carry entity-expansion attacks).
 *
 * @example
 * const root = parseXml(text);
 * const body = child(root, SOAP_ENV_NS, 'Body');
 */
export function parseXml(text: string): XmlElement {
  if (DOCTYPE.test(text)) throw new XmlSyntaxError('a document type declaration is not allowed');
  if (FOREIGN_ENTITY.test(text)) throw new XmlSyntaxError('undefined entity reference');
  const valid = XMLValidator.validate(text);
  if (valid !== true)
    throw new XmlSyntaxError(`${valid.err.msg} (line ${valid.err.line}, column ${valid.err.col})`);
  let nodes: OrderedNode[];
  try {
    nodes = parser.parse(text) as OrderedNode[];
  } catch (error) {
    throw new XmlSyntaxError(error instanceof Error ? error.message : String(error));
  }
  const elements = nodes.filter((node) => !('#text' in node));
  const strayText = nodes.some((node) => '#text' in node && String(node['#text']).trim() !== '');
  if (elements.length !== 1 || strayText)
    throw new XmlSyntaxError('a document must have exactly one root element');
  return toElement(elements[0]!, new Map([['xml', XML_NS]]));
}

/** The first child element with this namespace and local name. */
export function child(element: XmlElement | undefined, ns: string, local: string): XmlElement | undefined {
  return element?.children.find((item) => item.ns === ns && item.local === local);
}

/** Every child element with this namespace and local name. */
export function children(element: XmlElement | undefined, ns: string, local: string): XmlElement[] {
  return element ? element.children.filter((item) => item.ns === ns && item.local === local) : [];
}

/** An attribute value; pass `ns` `''` for an unqualified attribute. */
export function attribute(element: XmlElement | undefined, ns: string, local: string): string | undefined {
  return element?.attributes.get(ns ? `{${ns}}${local}` : local);
}

/** Resolves a QName written in an element's text (`SOAP-ENV:Client.validationError`). */
export function resolveQName(element: XmlElement, value: string): { ns: string | undefined; local: string } {
  const { prefix, local } = splitName(value.trim());
  return { ns: element.scope.get(prefix), local };
}

const builder = new XMLBuilder({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  format: true,
  indentBy: '  ',
  suppressEmptyNode: false,
  // Escapes &, <, >, " and ' in every text node and attribute value.
  processEntities: true,
});

/** Serialises a fast-xml-parser object tree, every value escaped, with an XML declaration. */
export function buildXml(tree: Record<string, unknown>): string {
  return builder.build({ '?xml': { '@_version': '1.0', '@_encoding': 'UTF-8' }, ...tree }) as string;
}
