// Grafana's dashboard JSON model, built from a short description of each board: sections of time-series
// panels, laid out two to a row. Panel ids, positions and the datasource are filled in here, so a board
// file only says what each panel shows and why.
import { prometheusDatasource } from "./config";

export interface Query {
  expr: string;
  /** Grafana's legend template, e.g. "{{function}}". */
  legend: string;
}

export interface PanelSpec {
  title: string;
  /** Shown as the panel's tooltip: what to read from it. */
  description: string;
  /** A Grafana unit id: "reqps", "s", "short", "bytes", ... */
  unit: string;
  queries: readonly Query[];
  /** Out of 24 columns; 12 unless said. */
  width?: number;
}

export interface Section {
  title: string;
  panels: readonly PanelSpec[];
}

/** A multi-select variable over a fixed list (the code's functions or consumers), "All" by default. */
export interface Variable {
  name: string;
  label: string;
  values: readonly string[];
}

export interface BoardSpec {
  uid: string;
  title: string;
  description: string;
  variables: readonly Variable[];
  sections: readonly Section[];
}

const PANEL_HEIGHT = 8;
const GRID_WIDTH = 24;

export function dashboard(spec: BoardSpec): Record<string, unknown> {
  const datasource = prometheusDatasource();
  const panels: Record<string, unknown>[] = [];
  let y = 0;
  for (const section of spec.sections) {
    panels.push({
      id: panels.length + 1,
      type: "row",
      title: section.title,
      collapsed: false,
      panels: [],
      gridPos: { h: 1, w: GRID_WIDTH, x: 0, y },
    });
    y += 1;
    let x = 0;
    for (const panel of section.panels) {
      const w = panel.width ?? GRID_WIDTH / 2;
      if (x + w > GRID_WIDTH) {
        x = 0;
        y += PANEL_HEIGHT;
      }
      panels.push(timeSeries(panels.length + 1, panel, datasource, { h: PANEL_HEIGHT, w, x, y }));
      x += w;
    }
    y += PANEL_HEIGHT;
  }
  return {
    uid: spec.uid,
    title: spec.title,
    description: spec.description,
    tags: ["uitgo"],
    editable: true,
    graphTooltip: 1,
    refresh: "10s",
    schemaVersion: 39,
    version: 1,
    time: { from: "now-30m", to: "now" },
    timepicker: {},
    timezone: "browser",
    annotations: { list: [] },
    templating: { list: spec.variables.map(customVariable) },
    panels,
  };
}

function timeSeries(id: number, panel: PanelSpec, datasource: object, gridPos: object): Record<string, unknown> {
  return {
    id,
    type: "timeseries",
    title: panel.title,
    description: panel.description,
    datasource,
    gridPos,
    fieldConfig: {
      defaults: {
        unit: panel.unit,
        min: 0,
        custom: { drawStyle: "line", lineWidth: 1, fillOpacity: 10, showPoints: "never", spanNulls: false },
      },
      overrides: [],
    },
    options: {
      legend: { displayMode: "list", placement: "bottom", showLegend: true },
      tooltip: { mode: "multi", sort: "desc" },
    },
    targets: panel.queries.map((query, index) => ({
      refId: String.fromCharCode(65 + index),
      datasource,
      expr: query.expr,
      legendFormat: query.legend,
      range: true,
    })),
  };
}

function customVariable(variable: Variable): Record<string, unknown> {
  return {
    type: "custom",
    name: variable.name,
    label: variable.label,
    query: variable.values.join(","),
    multi: true,
    includeAll: true,
    // The queries match with =~, so "All" is any value, including ones added since the board was generated.
    allValue: ".*",
    current: { selected: true, text: ["All"], value: ["$__all"] },
    options: [],
  };
}
