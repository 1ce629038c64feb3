// YAML with comments on the settings that need a reason: the reasons travel with the manifests.
import { Document, isMap, isScalar, isSeq } from "yaml";

export type Path = readonly (string | number)[];
export type Comments = readonly (readonly [Path, string])[];

/** A YAML document whose listed keys carry a comment on the line(s) above them; a path that does not exist throws. */
export function commented(object: object, comments: Comments, header?: string): Document {
  const doc = new Document(object);
  if (header)
    doc.commentBefore = header
      .split("\n")
      .map((line) => ` ${line}`)
      .join("\n");
  for (const [path, text] of comments) {
    const parent = doc.getIn(path.slice(0, -1), true);
    const last = path[path.length - 1];
    const target = isMap(parent)
      ? parent.items.find((pair) => isScalar(pair.key) && pair.key.value === last)?.key
      : isSeq(parent)
        ? parent.items[last as number]
        : undefined;
    if (!target || !(isScalar(target) || isMap(target))) throw new Error(`no ${path.join(".")} to comment on`);
    target.commentBefore = wrap(text);
  }
  return doc;
}

/** Comment text as lines of at most ~100 characters, each starting with a space after the `#`. */
function wrap(text: string): string {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/)) {
    if (line && line.length + word.length + 1 > 100) {
      lines.push(line);
      line = "";
    }
    line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines.map((l) => ` ${l}`).join("\n");
}

export function yamlFile(docs: Document[]): string {
  return docs.map((doc) => doc.toString({ lineWidth: 0 })).join("---\n");
}
