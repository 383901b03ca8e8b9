import { XMLBuilder, XMLParser, XMLValidator } from 'fast-xml-parser';

export const SOAP_ENV_NS = 'http://schemas.xmlsoap.org/soap/envelope/';
export const WSSE_NS = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd';
export const WD_NS = 'urn:com.workday/bsvc';
export const PASSWORD_TEXT_TYPE =
  'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText';

/** A parsed element with its namespace resolved, as a SOAP stack sees it. */
export interface XmlElement {
  ns: string;
  local: string;
  /** Keyed `{namespace}local`, or `local` when unqualified. */
  attributes: Map<string, string>;
  children: XmlElement[];
  text: string;
}

type OrderedNode = Record<string, unknown> & { ':@'?: Record<string, string> };

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
  htmlEntities: true,
});

function split(qname: string): [string, string] {
  const colon = qname.indexOf(':');
  return colon < 0 ? ['', qname] : [qname.slice(0, colon), qname.slice(colon + 1)];
}

function toElement(node: OrderedNode, parentScope: Map<string, string>): XmlElement {
  const name = Object.keys(node).find((key) => key !== ':@')!;
  const raw = node[':@'] ?? {};
  const scope = new Map(parentScope);
  for (const [attribute, value] of Object.entries(raw)) {
    if (attribute === 'xmlns') scope.set('', value);
    else if (attribute.startsWith('xmlns:')) scope.set(attribute.slice(6), value);
  }
  const [prefix, local] = split(name);
  const ns = scope.get(prefix);
  if (ns === undefined && prefix !== '') throw new Error(`undeclared prefix ${prefix}`);
  const attributes = new Map<string, string>();
  for (const [attribute, value] of Object.entries(raw)) {
    if (attribute === 'xmlns' || attribute.startsWith('xmlns:')) continue;
    const [attributePrefix, attributeLocal] = split(attribute);
    const attributeNs = attributePrefix ? scope.get(attributePrefix) : '';
    if (attributeNs === undefined) throw new Error(`undeclared prefix ${attributePrefix}`);
    attributes.set(attributeNs ? `{${attributeNs}}${attributeLocal}` : attributeLocal, value);
  }
  const children: XmlElement[] = [];
  let text = '';
  for (const item of (node[name] as OrderedNode[] | undefined) ?? []) {
    if ('#text' in item) text += String(item['#text']);
    else children.push(toElement(item, scope));
  }
  return { ns: ns ?? '', local, attributes, children, text };
}

/** Parses one well-formed document without a DTD; `undefined` when it is not one. */
export function parseXml(text: string): XmlElement | undefined {
  if (/<!DOCTYPE/i.test(text)) return undefined;
  if (/&(?!(?:lt|gt|amp|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);)/.test(text)) return undefined;
  if (XMLValidator.validate(text) !== true) return undefined;
  try {
    const nodes = (parser.parse(text) as OrderedNode[]).filter((node) => !('#text' in node));
    if (nodes.length !== 1) return undefined;
    return toElement(nodes[0]!, new Map());
  } catch {
    return undefined;
  }
}

export function childrenOf(element: XmlElement | undefined, ns: string, local: string): XmlElement[] {
  return element ? element.children.filter((item) => item.ns === ns && item.local === local) : [];
}

export function childOf(element: XmlElement | undefined, ns: string, local: string): XmlElement | undefined {
  return childrenOf(element, ns, local)[0];
}

export function attributeOf(element: XmlElement | undefined, ns: string, local: string): string | undefined {
  return element?.attributes.get(ns ? `{${ns}}${local}` : local);
}

const builder = new XMLBuilder({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  format: true,
  indentBy: '  ',
  suppressEmptyNode: false,
  processEntities: true,
});

/** Serialises an object tree with an XML declaration, every value escaped. */
export function buildXml(tree: Record<string, unknown>): string {
  return builder.build({ '?xml': { '@_version': '1.0', '@_encoding': 'UTF-8' }, ...tree }) as string;
}
