"""Bounds on a YAML text, checked on its event stream before any node or value is built.

Counts nodes as if every alias were expanded, so a few aliases that multiply ("billion laughs")
fail with a clear error instead of exhausting memory wherever the value is later walked.
"""

from __future__ import annotations

import yaml

from webhook.yamlbuild import MAX_ALIASES, MAX_DEPTH, Loader, YAMLDocumentError

MAX_DOCUMENTS = 10_000
MAX_EXPANDED_NODES = 1_000_000  # in one file, aliases expanded


def check_bounds(text: str, *, max_nodes: int = MAX_EXPANDED_NODES) -> None:
    """Scan the event stream, building nothing; raises YAMLDocumentError past a bound.

    Counts the file's nodes as if every alias were expanded, so a few aliases that multiply
    ("billion laughs") are caught before anything is built or walked.
    """
    sizes: dict[str, int] = {}  # anchor -> node count of the anchored node, expanded
    open_anchors: list[str | None] = []
    open_sizes: list[int] = []  # node count so far of each open collection
    aliases = documents = expanded = 0
    for event in yaml.parse(text, Loader=Loader):
        line = event.start_mark.line + 1 if event.start_mark is not None else None
        if isinstance(event, yaml.DocumentStartEvent):
            documents += 1
            if documents > MAX_DOCUMENTS:
                raise YAMLDocumentError(f"more than {MAX_DOCUMENTS} documents", line)
            sizes.clear()
            continue
        if isinstance(event, yaml.CollectionStartEvent):
            if len(open_sizes) >= MAX_DEPTH:
                raise YAMLDocumentError(f"document nests deeper than {MAX_DEPTH} levels", line)
            open_sizes.append(1)
            open_anchors.append(event.anchor)
            size = 1
        elif isinstance(event, yaml.CollectionEndEvent):
            anchor, done = open_anchors.pop(), open_sizes.pop()
            if anchor is not None:
                sizes[anchor] = done
            if open_sizes:
                open_sizes[-1] += done
            continue
        elif isinstance(event, yaml.ScalarEvent | yaml.AliasEvent):
            size = 1
            if isinstance(event, yaml.AliasEvent):
                aliases += 1
                if aliases > MAX_ALIASES:
                    raise YAMLDocumentError(
                        f"more than {MAX_ALIASES} aliases (an alias bomb?)", line
                    )
                if event.anchor in open_anchors:
                    raise YAMLDocumentError(f"alias *{event.anchor} refers to itself", line)
                size = sizes.get(event.anchor or "", 1)
            elif event.anchor is not None:
                sizes[event.anchor] = 1
            if open_sizes:
                open_sizes[-1] += size
        else:
            continue
        expanded += size
        if expanded > max_nodes:
            raise YAMLDocumentError(
                f"more than {max_nodes} nodes, aliases counted as what they expand to", line
            )
