extension HTMLReport {
    /// The page's one style sheet. Colours live here only: SVG elements name a
    /// class, and each class sets `--c`, which the chart, its legend swatch and
    /// its tooltip share. Verdicts: ok green, lost-updates and over-limit red,
    /// divergent orange, errors, unknown and skipped grey.
    static let style = """
    :root{color-scheme:light;--ok:#1a7f37;--red:#cf222e;--orange:#d1600a;--grey:#6e7781;--ink:#1f2328;--muted:#59636e;--line:#d0d7de;--soft:#f6f8fa}
    *{box-sizing:border-box}
    body{margin:0;background:#fff;color:var(--ink);font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
    main{max-width:1180px;margin:0 auto;padding:28px 20px 64px}
    header{margin-bottom:18px}
    h1{font-size:1.55rem;margin:0 0 .2em;overflow-wrap:anywhere}
    h2{font-size:1.25rem;margin:1.2em 0 .5em;display:flex;gap:.5em;align-items:center;flex-wrap:wrap;overflow-wrap:anywhere}
    h3{font-size:1rem;margin:1.6em 0 .4em}
    code{font:.9em ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
    a{color:#0969da}
    .meta,.caption,footer,.summary{color:var(--muted)}
    .summary{font-weight:600}
    .caption{font-size:.85rem;margin:.35em 0 0;max-width:80ch}
    .table-wrap{overflow-x:auto}
    table{border-collapse:collapse;font-variant-numeric:tabular-nums;font-size:.84rem}
    th,td{padding:5px 6px;border-bottom:1px solid var(--line);text-align:left;white-space:nowrap}
    th{background:var(--soft);font-weight:600}
    .num{text-align:right}
    td.skip{white-space:normal;color:var(--muted);min-width:20em}
    .c-red{color:var(--red);font-weight:600}.c-yellow{color:var(--orange);font-weight:600}.c-green{color:var(--ok)}.c-grey{color:var(--grey)}.c-strong{font-weight:600}
    .v-ok{--v:var(--ok)}.v-lost-updates,.v-over-limit{--v:var(--red)}.v-divergent{--v:var(--orange)}.v-errors,.v-unknown,.v-skipped{--v:var(--grey)}
    section.run[data-verdict="ok"]{--v:var(--ok)}
    section.run[data-verdict="lost-updates"],section.run[data-verdict="over-limit"]{--v:var(--red)}
    section.run[data-verdict="divergent"]{--v:var(--orange)}
    section.run[data-verdict="errors"],section.run[data-verdict="unknown"],section.run[data-verdict="skipped"]{--v:var(--grey)}
    .badge{display:inline-block;padding:1px 10px;border-radius:999px;background:var(--v);color:#fff;font-size:.8rem;font-weight:600;line-height:1.6;white-space:nowrap}
    .verdict{color:var(--v);font-weight:700}
    .verdicts{list-style:none;padding:0;margin:0}
    .verdicts li{border-left:4px solid var(--v);background:var(--soft);padding:5px 12px;margin:6px 0}
    .jump{font-size:.85rem;white-space:nowrap}
    section.run{margin-top:48px;padding-top:6px;border-top:4px solid var(--v)}
    .explanation{font-size:1.05rem;border-left:4px solid var(--v);background:var(--soft);padding:8px 14px;margin:.4em 0 1em}
    dl.figures{display:grid;grid-template-columns:repeat(auto-fill,minmax(320px,1fr));gap:1px 28px;margin:0 0 1em;font-size:.86rem}
    dl.figures div{display:flex;gap:10px;border-bottom:1px solid var(--soft)}
    dl.figures dt{color:var(--muted);min-width:8em;flex:none}
    dl.figures dd{margin:0;font-variant-numeric:tabular-nums}
    .skipped,.no-evidence,.no-races,.outside-view{color:var(--muted);font-style:italic}
    figure{margin:26px 0}
    figure>figcaption{font-weight:600;font-size:.95rem;margin-bottom:6px}
    figcaption .caption{font-weight:400}
    svg{display:block;width:100%;height:auto;overflow:visible;font:11px system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif}
    svg.race{width:auto;max-width:none}
    .race-scroll{overflow-x:auto;padding-bottom:4px}
    .legend{list-style:none;padding:0;margin:6px 0 0;display:flex;flex-wrap:wrap;gap:4px 18px;font-size:.84rem}
    .legend li{display:flex;align-items:center;gap:6px}
    .sw{display:inline-block;width:14px;height:10px;border-radius:2px;background:var(--c)}
    .sw.marker-sw{width:3px;height:14px;border-radius:0}
    .k-ok{--c:#2da44e}.k-indeterminate{--c:#d4a72c}.k-failed{--c:#cf222e}
    .k-p50{--c:#0969da}.k-p99{--c:#bc4c00}.k-band{--c:#54aeff}
    .k-acked{--c:#0969da}.k-final{--c:#8250df}.k-accepted{--c:#2da44e}.k-refused{--c:#8c959f}
    .k-fault{--c:#cf222e}.k-restart{--c:#8250df}.k-reset{--c:#1b7c83}
    .p0{--c:#4e79a7}.p1{--c:#f28e2b}.p2{--c:#59a14f}.p3{--c:#e15759}.p4{--c:#76b7b2}.p5{--c:#c9a227}.p6{--c:#b07aa1}.p7{--c:#ff7f9d}.p8{--c:#9c755f}.p9{--c:#7f7f7f}.p-unknown{--c:#6e7781}
    .grid{stroke:#e6eaef;fill:none}
    .axis{stroke:#8c959f;fill:none}
    .tick text,.axis-title{fill:#59636e}
    .area{fill:color-mix(in srgb,var(--c) 45%,#fff);stroke:var(--c);stroke-width:1;stroke-linejoin:round}
    .line{fill:none;stroke:var(--c);stroke-width:1.6;stroke-linejoin:round;stroke-linecap:round}
    .band{fill:color-mix(in srgb,var(--c) 25%,transparent);stroke:var(--c);stroke-width:1.2;stroke-linejoin:round}
    .read-line{fill:none;stroke:var(--c);stroke-width:1;opacity:.5}
    .read-dots{fill:none;stroke:var(--c);stroke-width:4;stroke-linecap:round}
    .read-final{fill:none;stroke:var(--c);stroke-width:10;stroke-linecap:round}
    .marker path{stroke:var(--c);stroke-width:1.4;stroke-dasharray:5 3}
    .marker text{fill:var(--c);font-weight:600}
    .bar{fill:var(--c)}
    .limit-line path{stroke:var(--red);stroke-width:1.4;stroke-dasharray:6 4}
    .limit-line text{fill:var(--red);font-weight:600}
    .pid-head{font-weight:600;font-size:12px;fill:var(--ink)}
    .pid-bar{fill:var(--c)}
    .column{stroke:#d0d7de;stroke-dasharray:2 3}
    .op .box{fill:#f6f8fa;stroke:#8c959f;stroke-width:1}
    .op.colliding .box{fill:#ffebe9;stroke:#cf222e;stroke-width:2}
    .box.clipped{stroke-dasharray:4 3}
    .read-mark{stroke:#0969da;stroke-width:2}
    .write-mark{stroke:#cf222e;stroke-width:2}
    .mark-label{font-weight:600}
    .read-label{fill:#0550ae}
    .write-label{fill:#a40e26}
    .count{fill:#59636e}
    .colliding-count{fill:#cf222e;font-weight:700}
    .race-sentence{font-weight:600;margin:.4em 0 0}
    .expectations{list-style:none;padding:0}
    .expectations li{margin:3px 0}
    .expectations .mark{display:inline-block;min-width:6.5em;font-weight:600}
    .expectations .held .mark{color:var(--ok)}.expectations .failed .mark{color:var(--red)}.expectations .skipped .mark{color:var(--grey)}
    ul.notes,ul.diagnosis,ul.witnesses,ul.limits{padding-left:1.2em}
    footer{margin-top:56px;font-size:.8rem}
    """
}
