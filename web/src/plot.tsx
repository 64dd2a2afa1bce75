/** A uPlot time-series chart that keeps its instance and only swaps data (no redraw of the DOM). */

import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

export interface PlotSeries {
  label: string;
  stroke: string;
}

export interface PlotProps {
  title: string;
  series: PlotSeries[];
  /** [x (unix seconds), y1, y2, ...]; a null is a gap. */
  data: uPlot.AlignedData;
  height?: number;
  yLabel?: string;
  format?: (v: number) => string;
}

export function Plot(props: PlotProps) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const shape = props.series.map((s) => s.label).join('\u0000');

  useEffect(() => {
    const el = box.current;
    if (el === null) return;
    const fmt = props.format;
    const opts: uPlot.Options = {
      title: props.title,
      width: Math.max(300, el.clientWidth),
      height: props.height ?? 220,
      series: [{}, ...props.series.map((s) => ({ label: s.label, stroke: s.stroke, width: 1.5, points: { show: false } }))],
      axes: [{}, { label: props.yLabel, size: 60, ...(fmt === undefined ? {} : { values: (_u: uPlot, vals: number[]) => vals.map(fmt) }) }],
      scales: { x: { time: true } },
      legend: { live: true },
    };
    const p = new uPlot(opts, props.data, el);
    plot.current = p;
    const resize = new ResizeObserver(() => p.setSize({ width: Math.max(300, el.clientWidth), height: props.height ?? 220 }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      p.destroy();
      plot.current = null;
    };
    // Rebuilt only when the series change (a new event kind); data updates go through setData.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [shape, props.title]);

  useEffect(() => {
    plot.current?.setData(props.data);
  }, [props.data]);

  return <div class="plot" ref={box} />;
}

/** A colour per series name, stable across reloads. */
export function colourOf(name: string): string {
  let h = 0;
  for (let i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) >>> 0;
  return `hsl(${h % 360}, 65%, 45%)`;
}
