"""The ``zoo`` command: list, run, encode, decode, train, eval, bench, ablate, speed, plot,
new-plugin, and the commands plugins add (``zoo_register_commands``)."""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import signal
import sys
import threading
import time
import traceback
import warnings
from contextlib import contextmanager
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Iterator, Sequence

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from zoo.core import allocator
from zoo.errors import ZooError, ZooWarning

SAMPLE = Path(__file__).parent / "samples" / "carphone_176x144.mp4"
console = Console()
err_console = Console(stderr=True)


# ------------------------------------------------------------------ options


def _option_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return [t for t in text.split(",") if t] if "," in text else text


def parse_options(items: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``["grdn.in_loop=true", "ensemble.members=a,b"]`` -> nested options."""
    options: dict[str, dict[str, Any]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        plugin, dot, name = key.partition(".")
        if not (sep and dot and plugin and name):
            raise ZooError(f"option {item!r} is not of the form plugin.key=value")
        options.setdefault(plugin, {})[name] = _option_value(value)
    return options


def parse_lambdas(text: str | None) -> tuple[float, ...]:
    """``"0.0009,0.0035"`` -> the quality ladder; empty: the zoo's default."""
    if not text:
        return ()
    from zoo.core.config import check_lambdas
    try:
        return check_lambdas([float(t) for t in text.split(",")])
    except ValueError as e:
        raise ZooError(f"--lambdas {text!r}: {e}") from None


def add_lambdas_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lambdas", metavar="L0,L1,...",
                   help="the quality ladder: lambda per quality index, increasing (loss = R + "
                        "lambda * 255^2 * MSE; default: the zoo's five, 0.0018..0.025)")


def add_model_args(p: argparse.ArgumentParser) -> None:
    group = p.add_mutually_exclusive_group()
    group.add_argument("--plugins", default="", help="comma-separated plugins to activate")
    group.add_argument("--model", help="a registry model (see `zoo list --models`)")
    p.add_argument("--preset", default="lite", choices=("lite", "full"))
    p.add_argument("--option", action="append", default=[], metavar="PLUGIN.KEY=VALUE")
    add_lambdas_arg(p)
    p.add_argument("--untrained", action="store_true",
                   help="run a model that has no trained weights, with seeded random weights")
    p.add_argument("--weights", metavar="FILE.safetensors",
                   help="the model's trained weights from this file instead of the registry's "
                        "(its sha256 is printed and recorded); the plugins, ladder and options "
                        "the file records (zoo train --export-to) fill what the command leaves "
                        "out (--option goes over the file's options, key by key)")
    p.add_argument("--quality", type=int, default=None, help="quality index (default: the highest)")
    p.add_argument("--frames", type=int, default=None, help="code at most N frames")
    p.add_argument("--intra-period", type=int, default=0, help="0: only the first frame is intra")
    p.add_argument("--search", type=int, default=0, metavar="STEPS",
                   help="encoder side: substitute each P-frame's input, STEPS Adam steps on its "
                        "rate-distortion cost (zoo.core.search; the decoder and the stream format "
                        "are unchanged; about STEPS/2 times the encode time)")
    add_device_arg(p)


def add_device_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="cpu",
                   help="cpu or cuda[:N]; encoder and decoder run on the same device")


def _plugin_names(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in text.split(",") if p.strip())


def _weights_arg(args: argparse.Namespace) -> Path | None:
    return Path(args.weights) if getattr(args, "weights", None) else None


def _no_options_on_a_model(args: argparse.Namespace) -> None:
    """A registry model's options and ladder are its own: ``--option`` and ``--lambdas``
    would otherwise be dropped."""
    if getattr(args, "model", None) and (args.option or getattr(args, "lambdas", None)):
        flag = "--option" if args.option else "--lambdas"
        raise ZooError(f"{flag} applies to --plugins: model {args.model!r} has its own options "
                       f"and lambdas (give its plugins with --plugins, --option and --weights instead)")


def search_arg(args: argparse.Namespace):
    """The encoder's search ``--search`` asks for, or None."""
    from zoo.core.search import Search
    if args.search < 0:
        raise ZooError("--search must be 0 or more")
    return Search(args.search) if args.search else None


def open_from_args(args: argparse.Namespace):
    from zoo.core.build import ModelSpec
    from zoo.core.models import open_model
    _no_options_on_a_model(args)
    search = search_arg(args)
    spec = ModelSpec(_plugin_names(args.plugins), args.preset, parse_options(args.option),
                     parse_lambdas(args.lambdas))
    model = open_model(args.model, spec, untrained=args.untrained, device=args.device,
                       weights=_weights_arg(args)).use_search(search)
    if model.weights:
        err_console.print(f"weights {args.weights}: sha256 {model.sha256}", highlight=False,
                          soft_wrap=True)
    return model


@contextmanager
def progress_bar(description: str, total: int) -> Iterator:
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err_console, transient=True,
                  disable=not err_console.is_terminal) as progress:
        task = progress.add_task(description, total=total)
        yield lambda: progress.advance(task)


def describe_model(model) -> str:
    what = model.name or ",".join(model.spec.plugins) or "(defaults)"
    return f"{what} ({model.spec.preset})" + ("" if model.trained else ", untrained")


def _check_frames(args: argparse.Namespace) -> None:
    if args.frames is not None and args.frames < 1:
        raise ZooError("--frames must be at least 1")
    if args.intra_period < 0:
        raise ZooError("--intra-period must be 0 or more")


def _open(args: argparse.Namespace, source: Path):
    """The clip, the model and the quality a command codes."""
    from zoo.io.video import read_clip
    _check_frames(args)
    clip = read_clip(source, args.frames)
    model = open_from_args(args)
    quality = model.codec.qualities - 1 if args.quality is None else args.quality
    if not model.trained:
        err_console.print(f"[yellow]warning: {describe_model(model)} runs on untrained weights; "
                          f"its figures say nothing about the technique[/]")
    return clip, model, quality


def _encode(args: argparse.Namespace, source: Path):
    from zoo.core.coding import encode_clip
    clip, model, quality = _open(args, source)
    with progress_bar("encoding", len(clip.frames)) as tick:
        started = time.perf_counter()
        header, records, recon = encode_clip(model, clip, quality, args.intra_period, tick)
        seconds = time.perf_counter() - started
    return clip, model, header, records, recon, seconds


# ------------------------------------------------------------------ commands


def cmd_list(args: argparse.Namespace) -> None:
    from rich.markup import escape

    from zoo import API_VERSION
    from zoo.core.manager import Zoo
    from zoo.core.models import is_composed
    from zoo.core.options import PIPELINE, PIPELINE_OPTIONS
    from zoo.core.registry import list_models, load_registry
    from zoo.core.weights import sha256_file
    zoo = Zoo.load()
    registry = load_registry(zoo)
    patterns = args.pattern or ["*"]
    plugins = [p for p in zoo.plugins.values() if any(fnmatch.fnmatchcase(p.name, pat) for pat in patterns)]
    broken = [b for b in zoo.broken if any(fnmatch.fnmatchcase(b.name, pat) for pat in patterns)]
    skipped = [s for s in zoo.skipped if any(fnmatch.fnmatchcase(s.name, pat) for pat in patterns)]
    models = [registry[n] for n in list_models(patterns, registry=registry)]

    def weights_state(entry) -> str:
        if not entry.weights:
            try:
                composed = is_composed(entry.plugins, zoo)
            except ZooError:  # a plugin it names is not loaded (the environment, or broken)
                return "unknown: plugins not loaded"
            return "its members'" if composed else "none"
        if not entry.weights.is_file():
            return "missing"
        return "verified" if sha256_file(entry.weights) == entry.sha256 else "sha256 mismatch"

    show_plugins, show_models = not args.models, not args.plugins
    if args.json:
        out: dict[str, Any] = {}
        if show_plugins:
            out["plugins"] = [{"name": p.name, "slots": list(p.slots), "package": p.package,
                               "version": p.version, "default": p.info.default,
                               "summary": p.info.summary, "paper": p.info.paper,
                               "requires": list(p.info.requires), "excludes": list(p.info.excludes),
                               "provides": list(p.info.provides),
                               "options": [_option_json(o) for o in p.info.options]}
                              for p in plugins]
            out["broken"] = [asdict(b) for b in broken]
            out["skipped"] = [asdict(s) for s in skipped]
            out["api_version"] = API_VERSION
            out["pipeline_options"] = [_option_json(o) for o in PIPELINE_OPTIONS]
        if show_models:
            out["models"] = [{"name": m.name, "plugins": list(m.plugins), "preset": m.preset,
                              "options": m.options, "paper": m.paper, "source": m.source,
                              "weights": weights_state(m)} for m in models]
        console.print_json(json.dumps(out))
        return
    if show_plugins:
        table = Table(title=f"plugins (plugin API version {API_VERSION})")
        for col in ("name", "slots", "package", "active"):
            table.add_column(col, no_wrap=True)
        table.add_column("requires / excludes")
        table.add_column("paper")
        for p in plugins:
            rules = [*(f"+{t}" for t in p.info.requires), *(f"-{t}" for t in p.info.excludes)]
            table.add_row(p.name, ", ".join(p.slots), f"{p.package} {p.version}",
                          "default" if p.info.default else "on request",
                          " ".join(rules) or "-", p.info.paper or "-")
        for b in broken:
            table.add_row(b.name, "-", f"{b.package} {b.version}", "[red]broken[/]", "-", "-")
        for s in skipped:
            table.add_row(s.name, "-", f"{s.package} {s.version}", "[dim]not loaded[/]", "-", "-")
        console.print(table)
        for b in broken:  # whole, not squeezed into a column
            console.print(f"[red]broken:[/] {escape(f'{b.name} ({b.package} {b.version}): {b.reason}')}",
                          highlight=False, soft_wrap=True, emoji=False)
        for s in skipped:
            console.print(f"not loaded: {s.name} ({s.package} {s.version}): {s.reason}",
                          highlight=False, soft_wrap=True, markup=False, emoji=False)
        listed = [(p.name, p.info.options) for p in plugins] if args.pattern else []
        if any(fnmatch.fnmatchcase(PIPELINE, pat) for pat in args.pattern or ()):
            listed.append((PIPELINE, PIPELINE_OPTIONS))
        for name, options in listed:
            for line in _option_lines(name, options):
                console.print(line, highlight=False, soft_wrap=True, markup=False, emoji=False)
    if show_models:
        table = Table(title="models")
        for col in ("name", "plugins", "preset", "weights", "paper"):
            table.add_column(col, no_wrap=col == "name")
        for m in models:
            table.add_row(m.name, ", ".join(m.plugins), m.preset, weights_state(m), m.paper or "-")
        console.print(table)


def _type_name(option) -> str:
    return f"list[{option.item.__name__}]" if option.type is list else option.type.__name__


def _option_json(option) -> dict[str, Any]:
    default = list(option.default) if isinstance(option.default, tuple) else option.default
    return {"name": option.name, "type": _type_name(option), "default": default,
            "help": option.help, "choices": list(option.choices)}


def _option_lines(name: str, options) -> list[str]:
    """``zoo list PLUGIN``: the options it takes, one per line."""
    if not options:
        return [f"{name} takes no options"]
    lines = [f"options of {name} (--option {name}.NAME=VALUE):"]
    for o in options:
        default = "" if o.default is None else f", default {json.dumps(_option_json(o)['default'])}"
        choices = f"; one of {', '.join(map(str, o.choices))}" if o.choices else ""
        lines.append(f"  {o.name} ({_type_name(o)}{default}{choices}): {o.help}")
    return lines


def _refuse_overwriting(inputs: Sequence[Path], outputs: Sequence[Path]) -> None:
    """An output that is an input (the same file, also through links) would destroy it."""
    for out in outputs:
        for source in inputs:
            if out.exists() and source.exists() and os.path.samefile(source, out):
                raise ZooError(f"{out} is the input {source}; refusing to overwrite it")


def cmd_encode(args: argparse.Namespace) -> None:
    from zoo.io import bitstream
    _refuse_overwriting([Path(args.input)], [Path(args.output)])
    clip, model, header, records, _, seconds = _encode(args, Path(args.input))
    size = bitstream.write(args.output, header, records)
    console.print(f"{args.output}: {len(records)} frames, {size} bytes, "
                  f"{size * 8 / (clip.width * clip.height * len(records)):.4f} bpp "
                  f"({describe_model(model)}, {seconds:.1f} s)")


def cmd_decode(args: argparse.Namespace) -> None:
    from zoo.core.coding import decode_frames
    from zoo.core.weights import give
    from zoo.io import bitstream
    from zoo.io.color import rgb_to_yuv420
    from zoo.io.video import clip_writer
    _refuse_overwriting([Path(args.input)], [Path(args.output)])
    for path in args.weights:
        give(Path(path))
    header, records = bitstream.read(args.input)
    with progress_bar("decoding", len(records)) as tick, \
            clip_writer(args.output, header.width, header.height, header.fps) as write:
        for x_hat in decode_frames(header, records, tick, args.device, args.allow_plugin_mismatch):
            write(rgb_to_yuv420(x_hat))  # each frame as it is decoded
    console.print(f"{args.output}: {len(records)} frames, {header.width}x{header.height}")


@contextmanager
def _run_outputs(folder: Path) -> Iterator[list[Path]]:
    """The files ``zoo run`` writes into ``folder`` (listed as written): if the run
    fails, they are removed, and so are the folders made for them."""
    made = [d for d in (folder, *folder.parents) if not d.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ZooError(f"--out: cannot make {folder}: {e.strerror or e}") from None
    written: list[Path] = []
    try:
        yield written
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        for d in made:
            if d.is_dir() and not any(d.iterdir()):
                d.rmdir()
        raise


def cmd_run(args: argparse.Namespace) -> None:
    from zoo.core.coding import round_trip, summarise
    from zoo.io import bitstream
    from zoo.io.video import write_clip
    source = Path(args.input) if args.input else SAMPLE
    if args.frames is None and not args.input:
        args.frames = 10
    clip, model, quality = _open(args, source)
    out = Path(args.out) / (model.name or "-".join(model.spec.plugins) or "defaults")
    stem = source.stem
    bin_path, y4m_path, json_path = (out / f"{stem}{suffix}" for suffix in (".bin", ".y4m", ".json"))
    _refuse_overwriting([source], [bin_path, y4m_path, json_path])
    with _run_outputs(out) as written:
        def store(header, records) -> bytes:
            bitstream.write(bin_path, header, records)
            written.append(bin_path)
            return bin_path.read_bytes()  # decode from the file alone

        with progress_bar("encoding, decoding", 2 * len(clip.frames)) as tick:
            trip = round_trip(model, clip, quality, args.intra_period, store=store,
                              encode_tick=tick, decode_tick=tick)
        header, total = trip.header, len(trip.data)
        write_clip(y4m_path, trip.decoded)
        written.append(y4m_path)
        summary = summarise(trip.stats, total, clip.width, clip.height)

        table = Table(title=f"{describe_model(model)} on {source.name}, quality {header.quality}")
        for col in ("frames", "type", "bpp", "PSNR-RGB", "PSNR-YUV", "MS-SSIM"):
            table.add_column(col, justify="right")
        for kind, row in summary.items():
            table.add_row(str(row["frames"]), kind, f"{row['bpp']:.4f}", f"{row['psnr_rgb']:.2f}",
                          f"{row['psnr_yuv']:.2f}", f"{row['ms_ssim']:.4f}")
        console.print(table)
        report = {"model": model.record(), "input": str(source), "quality": header.quality,
                  "width": clip.width, "height": clip.height, "intra_period": header.intra_period,
                  "bitstream": str(bin_path), "bytes": total, "decoded_equals_encoder": True,
                  "encode_seconds": sum(trip.encode_seconds),
                  "decode_seconds": sum(trip.decode_seconds),
                  "summary": summary, "frames": [asdict(s) for s in trip.stats]}
        write_json(json_path, report)
        written.append(json_path)
    console.print(f"wrote {bin_path}, {y4m_path}, {json_path}; "
                  f"decoded frames equal the encoder's reconstruction")


def _train_spec(args: argparse.Namespace):
    """The model ``zoo train`` trains, its name, the registry model it starts from
    (``--init-from``) and the plugins new on it."""
    from zoo.core.build import ModelSpec
    from zoo.core.models import checked
    from zoo.core.registry import find_model, on_top_of
    _no_options_on_a_model(args)
    plugins, options = _plugin_names(args.plugins), parse_options(args.option)
    lambdas = parse_lambdas(args.lambdas)
    if args.init_from:
        if args.model:
            raise ZooError("--init-from and --model exclude each other")
        base = find_model(args.init_from)
        if not plugins:
            raise ZooError("--init-from needs --plugins: the plugins to train on top of it")
        if base.weights is None:
            raise ZooError(f"--init-from {base.name}: it has no trained weights to start from")
        spec = on_top_of(base, plugins, options)
        spec = replace(spec, lambdas=lambdas or spec.lambdas)
        return checked(spec), f"{base.name}-{'-'.join(plugins)}", base, plugins
    entry = find_model(args.model) if args.model else None
    if entry:
        return checked(entry.spec), entry.name, None, ()
    return (checked(ModelSpec(plugins, args.preset, options, lambdas)), "-".join(plugins) or "defaults",
            None, ())


def cmd_train(args: argparse.Namespace) -> None:
    from zoo.core.manager import Zoo
    from zoo.core.weights import verify
    from zoo.train.trainer import (TrainOptions, Trainer, default_stages, export, original_share,
                                   parse_cascade, parse_per_stage, stage_table)
    spec, name, base, fresh = _train_spec(args)
    table = stage_table(spec)
    new_slots = tuple(s for n in fresh for s in Zoo.load().get(n).slots)
    stages = ([s.strip() for s in args.stages.split(",")] if args.stages
              else default_stages(table, new_slots))
    unknown = [s for s in stages if s not in table]
    if unknown:
        raise ZooError(f"unknown stage {unknown[0]!r} (stages: {', '.join(table)})")
    if args.crop <= 0 or args.crop % 64:
        raise ZooError(f"--crop {args.crop}: crops must be a positive multiple of 64")
    if args.export and not args.model:
        raise ZooError("--export needs --model: it records the weights in the registry entry "
                       "(--export-to DIR writes them anywhere)")
    if not 0 <= args.warmup < 1:
        raise ZooError(f"--warmup {args.warmup}: a fraction of each stage, from 0 to below 1")
    if not args.density_lr > 0:
        raise ZooError(f"--density-lr {args.density_lr}: a positive factor")
    if not args.downscale >= 1:
        raise ZooError(f"--downscale {args.downscale}: a factor of 1 (none) or more")
    if args.validate_every < 0 or args.validation_crops < 1:
        raise ZooError("--validate-every must be 0 (never) or more, --validation-crops 1 or more")
    try:
        weights = tuple(float(w) for w in args.frame_weights.split(",")) if args.frame_weights else ()
    except ValueError as e:
        raise ZooError(f"--frame-weights {args.frame_weights!r}: give W,W,... (numbers)") from e
    if base:
        verify(base.weights, base.sha256 or "")
    original_share(args.reference)  # a bad --reference stops here, before any output
    opts = TrainOptions(spec=spec, name=name, stages=stages,
                        iterations=parse_per_stage(args.iterations, "--iterations", int, table),
                        out=Path(args.out) / name, data=args.data or [], batch=args.batch,
                        crop=args.crop, downscale=args.downscale, distortion=args.distortion,
                        device=args.device, resume=args.resume,
                        init=[Path(p) for p in args.init] + ([base.weights] if base else []),
                        fresh=fresh, checkpoint_every=args.checkpoint_every, threads=args.threads,
                        lr=parse_per_stage(args.lr, "--lr", float, table) if args.lr else {},
                        schedule=args.schedule, warmup=args.warmup,
                        cascade=parse_cascade(args.cascade), frame_weights=weights,
                        reference=args.reference,
                        validate_every=args.validate_every, validation_crops=args.validation_crops,
                        density_lr=args.density_lr, seed=args.seed)
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[stats]}"), TimeElapsedColumn(), console=err_console,
                  disable=not err_console.is_terminal) as progress:
        tasks: dict[str, Any] = {}

        def report(stage: str, it: int, total: int, stats: dict) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=total, stats="")
            text = " ".join(f"{k} {v:.4g}" for k, v in stats.items())
            progress.update(tasks[stage], completed=it, stats=text)

        trainer = Trainer(opts, report)
        codec = trainer.run()
    console.print(f"trained {name}: stages {', '.join(stages)}; checkpoint {opts.out / 'checkpoint.pt'}")
    if not (args.export or args.export_to):
        return
    runs = trainer.current_lineage()
    wall = round(sum(r.get("seconds", 0.0) for r in runs))
    if args.export:
        recipe = {"wall_s": wall, "precision": "fp16" if args.half else "fp32", "runs": runs}
        path, sha = export(codec, name, recipe, half=args.half, spec=spec)
        console.print(f"exported {path} (sha256 {sha}) and recorded it in the registry")
    if args.export_to:
        fragment = Path(args.export_to) / "registry.toml"
        recipe = {"wall_s": wall, "precision": "fp16", "runs": runs}
        path, sha = export(codec, name, recipe, half=True, registry=fragment, spec=spec)
        console.print(f"exported {path} (sha256 {sha}) and its registry entry {fragment}; "
                      f"evaluate it with: zoo eval --weights {path} ...", highlight=False, soft_wrap=True)


def cmd_train_plot(args: argparse.Namespace) -> None:
    from zoo.train.trainer import plot_training
    stages = plot_training(Path(args.run), Path(args.output))
    console.print(f"wrote {args.output}: {', '.join(stages)}")


def cmd_eval(args: argparse.Namespace) -> None:
    from zoo.core.build import ModelSpec
    from zoo.eval.evaluate import (ModelRequest, collect_sequences, evaluate, parse_qualities,
                                   resumable, rich_progress)
    _no_options_on_a_model(args)
    specs = collect_sequences(args.data, args.frames, args.intra_period)
    request = ModelRequest(args.model, None if args.model else
                           ModelSpec(_plugin_names(args.plugins), args.preset,
                                     parse_options(args.option), parse_lambdas(args.lambdas)),
                           args.untrained, args.device, _weights_arg(args), search_arg(args))
    model = open_from_args(args)
    if args.record and not (model.trained and model.name):
        raise ZooError("--record needs a trained registry model: only measured weights are recorded")
    if args.entropy_estimate and model.search:
        raise ZooError("--search searches what is coded; --entropy-estimate codes nothing")
    if args.record and model.search:
        raise ZooError("--record records the registry's encoder, not one with --search")
    if args.record and args.entropy_estimate:
        raise ZooError("--record records decoded results, not an --entropy-estimate")
    if not model.trained:
        err_console.print(f"[yellow]warning: {describe_model(model)} runs on untrained weights; "
                          f"its figures say nothing about the technique[/]")
    qualities = str(args.quality) if args.quality is not None else args.qualities
    output = Path(args.output)
    done: list[dict] = []
    if args.resume and output.is_file():
        try:
            earlier = json.loads(output.read_text())
        except (OSError, ValueError) as e:
            raise ZooError(f"--resume: cannot read {output}: {e}") from e
        done = resumable(earlier, model, args.mode,
                         parse_qualities(qualities, model.codec.qualities), args.entropy_estimate)
        err_console.print(f"resuming: {len(done)} of {len(specs)} sequences already in {output}",
                          highlight=False)
    output.parent.mkdir(parents=True, exist_ok=True)
    with rich_progress(err_console, len(specs) - len(done)) as progress:
        report = evaluate(request, specs, qualities=qualities, mode=args.mode, workers=args.workers,
                          progress=progress, model=model, estimate=args.entropy_estimate,
                          done=done, finished=lambda partial: write_json(output, partial))
    if report is None:  # a torchrun rank other than 0: rank 0 writes
        return
    write_json(output, report)
    print_summary(report)
    console.print(f"wrote {output}: {len(specs)} sequences, mode {args.mode}, model size "
                  f"{report['model_size']['bytes']} bytes ({report['model_size']['source']})"
                  + ("; ENTROPY ESTIMATE, nothing decoded" if args.entropy_estimate else ""))
    if args.record:
        from zoo.core.registry import update_registry
        from zoo.eval.evaluate import registry_results
        update_registry(model.name, {"results": registry_results(report, args.data)})
        console.print(f"recorded the summary in the registry entry of {model.name}")


def print_summary(report: dict) -> None:
    """Print an eval or bench report's summary as a rich table."""
    from zoo.eval.evaluate import summary_table
    print_view(summary_table(report))


def cmd_bench(args: argparse.Namespace) -> None:
    from zoo.eval.anchors import bench, check_codec, parse_qps
    from zoo.eval.evaluate import collect_sequences, rich_progress
    codecs = [c.strip() for c in args.codecs.split(",") if c.strip()]
    if not codecs:
        raise ZooError("name at least one anchor codec, e.g. x264")
    for codec in codecs:
        check_codec(codec)
    qps = parse_qps(args.qps)
    specs = collect_sequences(args.data, args.frames, args.intra_period)
    with rich_progress(err_console, len(specs) * len(codecs)) as progress:
        reports = [bench(codec, specs, qps, args.preset, progress) for codec in codecs]
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    if len(reports) == 1:
        written = {output: reports[0]}
    elif args.one_file:
        written = {output: {"name": "anchors", "description": "zoo bench: " + ", ".join(codecs),
                            "runs": reports}}
    else:
        written = {output.with_name(f"{output.stem}-{r['name']}{output.suffix or '.json'}"): r
                   for r in reports}
    for path, obj in written.items():
        write_json(path, obj)
    for report in reports:
        print_summary(report)
    console.print("wrote " + ", ".join(str(p) for p in written))


def _runs(paths: Sequence[str], frame: str | None) -> list[dict]:
    from zoo.eval.evaluate import FrameFormat, load_runs
    fmt = FrameFormat.parse(frame) if frame else None
    return [run for path in paths for run in load_runs(path, fmt)]


def print_view(view) -> None:
    """Print a :class:`zoo.eval.evaluate.Table` as a rich table."""
    table = Table(title=view.title)
    for col in view.columns:
        table.add_column(col, justify="right")
    for row in view.rows:
        table.add_row(*row)
    console.print(table)


def cmd_ablate(args: argparse.Namespace) -> None:
    from zoo.eval.ablate import ablate, notes, parse_rows, tabulate, to_csv, to_markdown, views
    from zoo.eval.evaluate import collect_sequences, rich_progress
    from zoo.io.atomic import write_text
    anchor_runs = _runs([a.strip() for a in (args.anchors or "").split(",") if a.strip()],
                        args.bitrate_frame)
    table_options = dict(table_quality=args.table_quality, method=args.interpolation,
                         min_overlap=args.min_overlap, allow_cross_protocol=args.allow_cross_protocol)
    if args.source:  # evaluate nothing: the table of earlier zoo eval results
        result = tabulate(_runs(args.source, None), anchor_runs=anchor_runs, **table_options)
    else:
        if not args.data:
            raise ZooError("--data is needed to evaluate the rows (or give --from RESULTS)")
        rows = parse_rows(args.rows, args.models, args.preset, parse_options(args.option),
                          args.untrained, args.device)
        specs = collect_sequences(args.data, args.frames, args.intra_period)
        if args.untrained:
            err_console.print("[yellow]warning: untrained rows run on seeded random weights; "
                              "their figures say nothing about the techniques[/]")
        with rich_progress(err_console, len(specs) * len(rows)) as progress:
            result = ablate(rows, specs, qualities=args.qualities, mode=args.mode,
                            workers=args.workers, anchor_runs=anchor_runs, progress=progress,
                            **table_options)
    if result is None:  # a torchrun rank other than 0
        return
    prefix = Path(args.output)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    md, csv_path, json_path = (prefix.with_name(prefix.name + s) for s in (".md", ".csv", ".json"))
    write_text(md, to_markdown(result))
    write_text(csv_path, to_csv(result))
    write_json(json_path, result)
    if console.is_terminal:
        for view in views(result):
            print_view(view)
        for line in notes(result):
            console.print(f"- {line}", highlight=False)
    else:  # piped: the markdown, whole
        console.print(to_markdown(result), markup=False, highlight=False, soft_wrap=True)
    console.print(f"wrote {md}, {csv_path}, {json_path}")


def cmd_speed(args: argparse.Namespace) -> None:
    from zoo.eval.speed.measure import Options, benchmark
    from zoo.eval.speed.report import (COLUMNS, load_report, load_targets, notes, recorded_targets,
                                       rows, write_report)
    opts = Options(models=args.models, sizes=args.sizes, device=args.device, frames=args.frames,
                   warmup=args.warmup, threads=args.threads, compile=args.compile,
                   channels_last=args.channels_last, trained=args.trained,
                   profile_ops=args.profile_ops, timeout=args.timeout, output=args.output,
                   plot=args.plot, markdown=args.markdown, targets=args.targets)
    if args.source:  # report again from a results file, measuring nothing
        report = load_report(args.source)
        # judged against --targets, else the targets it was measured for, else the issue's
        targets = (load_targets(args.targets) if args.targets else
                   recorded_targets(report) or load_targets())
        report["targets"] = targets.as_dict()
    else:
        targets = load_targets(args.targets) if args.targets else load_targets()
        with Progress(TextColumn("[bold]{task.description}"), TimeElapsedColumn(),
                      console=err_console, transient=True,
                      disable=not err_console.is_terminal) as progress:
            task = progress.add_task("starting", total=None)
            report = benchmark(opts, progress=lambda what: progress.update(task, description=what),
                               targets=targets.as_dict())
    written = write_report(report, opts, targets)
    table = Table(title="zoo speed: P-frames per second, peak memory (ratios: fps / ssf2020's)")
    for col in COLUMNS:
        table.add_column(col, justify="left" if col in ("model", "size", "device") else "right")
    for row in rows(report, targets):
        table.add_row(*row)
    console.print(table)
    for line in notes(report, targets):
        console.print(f"- {line}", highlight=False)
    console.print(f"command: {report['command']}", highlight=False, markup=False)
    console.print("wrote " + ", ".join(str(p) for p in written))


def cmd_plot(args: argparse.Namespace) -> None:
    from zoo.eval.plot import parse_limits, plot
    names, differences = plot(_runs(args.results, args.bitrate_frame), args.output, args.title,
                              metric=args.metric, xlim=parse_limits(args.xlim, "--xlim"),
                              ylim=parse_limits(args.ylim, "--ylim"),
                              allow_cross_protocol=args.allow_cross_protocol)
    for line in differences:
        err_console.print(f"cross-protocol: {line}", highlight=False, markup=False)
    console.print(f"wrote {args.output}: {', '.join(names)}")


def cmd_new_plugin(args: argparse.Namespace) -> None:
    from zoo.scaffold import new_plugin
    folder = Path(args.output or f"zoo-{args.name}")
    files = new_plugin(args.name, args.slot, folder)
    console.print(f"wrote {folder}: " + ", ".join(str(f.relative_to(folder)) for f in files),
                  highlight=False)
    where = str(folder) if folder.is_absolute() else f"./{folder}"  # to pip, a path, not a name
    console.print(f"next: pip install -e {where} && python -m pytest {folder}",
                  highlight=False, soft_wrap=True)


def write_json(path: Path, obj: Any) -> None:
    """Write JSON atomically (temp file + rename)."""
    from zoo.io.atomic import atomic_write
    try:
        with atomic_write(path, "w") as f:
            json.dump(obj, f, indent=1, allow_nan=True)
    except OSError as e:
        raise ZooError(f"cannot write {path}: {e.strerror or e}") from None


# ------------------------------------------------------------------ entry point


def add_comparison_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--allow-cross-protocol", action="store_true",
                   help="compare results measured differently (mode, intra period, frames, rate); "
                        "the output then lists the differences")
    p.add_argument("--bitrate-frame", metavar="WxH@FPS",
                   help="convert results that give 'bitrate' in kbps (CompressAI's published "
                        "video results) to bpp, e.g. 1920x1080@120")


def version_text() -> str:
    import compressai
    import torch

    from zoo import API_VERSION, __version__
    return (f"codec-zoo {__version__} (plugin API {API_VERSION}; torch {torch.__version__}, "
            f"compressai {compressai.__version__})")


class _Version(argparse.Action):
    """``--version``: imports torch only when asked."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, **kwargs):
        super().__init__(option_strings, dest, nargs=0, help="print the versions and exit", **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        console.print(version_text(), highlight=False)
        parser.exit()


def add_plugin_commands(sub: Any) -> None:
    """The subcommands the loaded plugins add (``zoo_register_commands``); one that
    cannot be added is a warning, not the end of the zoo."""
    from zoo.core.manager import Zoo
    zoo = Zoo.load()
    for plugin in zoo.plugins.values():
        def register(name: str, function: Any, help: str = "", _plugin: Any = plugin):
            if name in sub.choices:
                raise ValueError(f"command {name!r} exists already")
            parser = sub.add_parser(name, help=f"{help} (plugin {_plugin.name})".lstrip())
            parser.set_defaults(func=function)
            return parser
        try:
            zoo.ask(plugin, "zoo_register_commands", register=register)
        except Exception as e:
            err_console.print(f"warning: plugin {plugin.name!r} cannot add its commands: {e}",
                              highlight=False, markup=False)


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, Any]:
    return next(a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def make_parser(with_plugins: bool = False) -> argparse.ArgumentParser:
    """The ``zoo`` command line; ``with_plugins``: with the loaded plugins' commands too."""
    parser = argparse.ArgumentParser(
        prog="zoo", description="A zoo of learned P-frame video codecs; `zoo COMMAND --help` "
                                "gives a command's options.")
    parser.add_argument("--version", action=_Version)
    parser.add_argument("--traceback", action="store_true",
                        help="on an error, print its full traceback too (also $ZOO_TRACEBACK=1)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("list", help="plugins and registry models")
    p.add_argument("pattern", nargs="*", help="shell wildcards, e.g. 'cmfr*'")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--models", action="store_true", help="registry models only")
    which.add_argument("--plugins", action="store_true", help="plugins only")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("run", help="encode, decode from the file, and report metrics")
    add_model_args(p)
    p.add_argument("--input", help=f"a clip (default: the bundled {SAMPLE.name}, 10 frames)")
    p.add_argument("--out", default="out", help="output folder")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("train", help="step-by-step training, resumable")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--plugins", default="")
    group.add_argument("--model")
    p.add_argument("--preset", default="lite", choices=("lite", "full"))
    p.add_argument("--option", action="append", default=[], metavar="PLUGIN.KEY=VALUE")
    add_lambdas_arg(p)
    p.add_argument("--stages", help="comma-separated stages (default: all that apply)")
    p.add_argument("--iterations", default="1000", help="N, or stage=N,stage=N")
    p.add_argument("--lr", help="base learning rate: LR, or stage=LR,stage=LR (default: each stage's own)")
    p.add_argument("--schedule", default="cosine", choices=("constant", "cosine", "step"),
                   help="after the warm-up: constant, cosine decay to 1/100, or 10x lower for the last 20%%")
    p.add_argument("--warmup", type=float, default=0.05,
                   help="fraction of each stage's iterations spent warming the learning rate up linearly")
    p.add_argument("--density-lr", type=float, default=10.0, metavar="FACTOR",
                   help="the entropy bottlenecks' densities learn at FACTOR x the stage's rate "
                        "(they start wide and are otherwise the rate floor of a short run)")
    p.add_argument("--cascade", default="2:0.2,4:0.3,7:0.5", metavar="P:FRACTION,...",
                   help="multi-frame stage: cascaded P-frames per sample and the fraction of its "
                        "iterations spent on each")
    p.add_argument("--frame-weights", metavar="W,W,...",
                   help="multi-frame stage: distortion weight of the 1st, 2nd, ... P-frame (cycled)")
    p.add_argument("--reference", default="decoded", metavar="decoded|original|mixed[:F]",
                   help="P-frame stages: predict each P-frame from the model's own decoded previous "
                        "frame (low delay), from the original one (CLIC's P-frame protocol, "
                        "zoo eval --mode pframe), or mixed: either, drawn at random per step, the "
                        "original with probability F (default 0.5)")
    p.add_argument("--validate-every", type=int, default=0, metavar="N",
                   help="log loss, bpp and PSNR on fixed training crops every N steps (0: never)")
    p.add_argument("--validation-crops", type=int, default=8, help="how many fixed crops validate")
    p.add_argument("--data", nargs="*",
                   help="training clips: files, folders, globs, or a Vimeo-90k sep_trainlist.txt")
    p.add_argument("--out", default="runs")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--init", nargs="*", default=[], help="checkpoints or weights to start from")
    p.add_argument("--init-from", metavar="MODEL",
                   help="train --plugins on top of this registry model: its trained weights for "
                        "the slots the new plugins leave, and by default only the stages that "
                        "train the new plugins' slots")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--crop", type=int, default=128)
    p.add_argument("--downscale", type=float, default=1.0, metavar="FACTOR",
                   help="draw each crop from a region up to FACTOR x its side (log-uniform, within "
                        "the clip), shrunk to it with antialiasing: large clips then also give "
                        "the detail per pixel of downscaled video (1: crops at full resolution)")
    p.add_argument("--distortion", default="mse", choices=("mse", "ms-ssim"))
    p.add_argument("--checkpoint-every", type=int, default=50)
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the crops drawn and of the training noise (the weights start "
                        "from the zoo's fixed initialisation)")
    p.add_argument("--export", action="store_true",
                   help="write weights/ and the --model's entry in the zoo's registry.toml")
    p.add_argument("--export-to", metavar="DIR",
                   help="write DIR/weights/<model>.safetensors (fp16) and DIR/registry.toml, a "
                        "registry entry of the model with its recipe")
    p.add_argument("--half", action="store_true", help="--export: fp16 weights")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: PyTorch's default)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("train-plot", help="training and validation curves of a run, from its train.log")
    p.add_argument("run", help="a run folder (runs/<model>) or its train.log")
    p.add_argument("-o", "--output", default="train.png", help="image file (any format matplotlib writes)")
    p.set_defaults(func=cmd_train_plot)

    p = sub.add_parser("encode", help="a clip to a .bin bitstream")
    p.add_argument("input")
    p.add_argument("-o", "--output", required=True)
    add_model_args(p)
    p.set_defaults(func=cmd_encode)

    p = sub.add_parser("decode", help="a .bin bitstream to a clip (.y4m, .yuv or PNG folder)")
    p.add_argument("input")
    p.add_argument("-o", "--output", required=True)
    add_device_arg(p)
    p.add_argument("--weights", action="append", default=[], metavar="FILE.safetensors",
                   help="a weights file the stream may name (zoo encode --weights); repeatable")
    p.add_argument("--allow-plugin-mismatch", action="store_true",
                   help="decode although the stream's plugins came from other packages or versions "
                        "(its frame checksums still apply)")
    p.set_defaults(func=cmd_decode)
    p = sub.add_parser("eval", help="evaluate a model on clips, folders or a DCVC dataset config")
    add_model_args(p)
    p.set_defaults(intra_period=None)
    p.add_argument("--data", nargs="+", required=True,
                   help="clip files, folders of clips, or a DCVC-style dataset config (.json)")
    p.add_argument("--qualities", default="all", help="'all' or comma-separated quality indices")
    p.add_argument("--mode", default="sequence", choices=("sequence", "pframe"),
                   help="sequence: low-delay, as zoo bench codes; pframe: CLIC P-frame protocol")
    p.add_argument("--workers", type=int, default=1, help="processes over sequences")
    p.add_argument("-o", "--output", required=True, help="results JSON (written after each sequence)")
    p.add_argument("--resume", action="store_true",
                   help="keep the sequences already in the output (same model, mode, qualities)")
    p.add_argument("--entropy-estimate", action="store_true",
                   help="rates from the likelihoods only: nothing coded or decoded (marked so)")
    p.add_argument("--record", action="store_true",
                   help="also record the summary in the model's registry entry (trained models)")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("bench", help="conventional anchors (x264, x265) through PyAV")
    p.add_argument("codecs", help="comma-separated: x264, x265")
    p.add_argument("--data", nargs="+", required=True,
                   help="clip files, folders of clips, or a DCVC-style dataset config (.json)")
    p.add_argument("--preset", default="medium")
    p.add_argument("--qps", default="22,27,32,37")
    p.add_argument("--frames", type=int, default=None, help="code at most N frames")
    p.add_argument("--intra-period", type=int, default=None, help="0: only the first frame is intra")
    p.add_argument("--one-file", action="store_true", help="several codecs: one file holding all")
    p.add_argument("-o", "--output", required=True,
                   help="results JSON (several codecs: OUT-<codec>.json unless --one-file)")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("ablate", help="ablation table (Feng et al. Table 1 form) with BD-rates")
    rows = p.add_mutually_exclusive_group(required=True)
    rows.add_argument("--rows", help="plugin sets separated by ';', e.g. \"cmfr; cmfr,sff\"")
    rows.add_argument("--models", help="comma-separated registry models")
    rows.add_argument("--from", dest="source", nargs="+", metavar="RESULTS",
                      help="evaluate nothing: rows from earlier zoo eval results, in this order")
    p.add_argument("--preset", default="lite", choices=("lite", "full"))
    p.add_argument("--option", action="append", default=[], metavar="PLUGIN.KEY=VALUE")
    p.add_argument("--untrained", action="store_true",
                   help="run models that have no trained weights, with seeded random weights")
    p.add_argument("--data", nargs="+",
                   help="clip files, folders of clips, or a DCVC-style dataset config (.json)")
    p.add_argument("--qualities", default="all", help="'all' or comma-separated quality indices")
    p.add_argument("--frames", type=int, default=None, help="code at most N frames")
    p.add_argument("--intra-period", type=int, default=None, help="0: only the first frame is intra")
    p.add_argument("--mode", default="sequence", choices=("sequence", "pframe"),
                   help="sequence (default): low-delay, as zoo bench codes; pframe: CLIC P-frame")
    p.add_argument("--workers", type=int, default=1, help="processes over sequences")
    add_device_arg(p)
    p.add_argument("--anchors", help="comma-separated results files (e.g. from zoo bench)")
    p.add_argument("--table-quality", type=int, default=None,
                   help="the quality shown in the table (default: each row's highest)")
    p.add_argument("--interpolation", default="pchip", choices=("pchip", "akima", "cubic"))
    p.add_argument("--min-overlap", type=float, default=0.5,
                   help="a sequence whose curves overlap less (0..1) gives no BD figure")
    add_comparison_args(p)
    p.add_argument("-o", "--output", default="ablation", help="writes OUT.md, OUT.csv, OUT.json")
    p.set_defaults(func=cmd_ablate)

    p = sub.add_parser("speed", help="encode/decode fps and peak memory beside CompressAI's ssf2020")
    p.add_argument("--models", default="*",
                   help="comma-separated registry wildcards, e.g. 'cmfr*' (ssf2020 is always measured)")
    p.add_argument("--sizes", default="416x240,832x480,1920x1080", help="comma-separated WIDTHxHEIGHT")
    p.add_argument("--device", default="auto", help="cpu, cuda, cpu,cuda or auto (cpu, and cuda if present)")
    p.add_argument("--frames", type=int, default=2, help="timed P-frames per configuration")
    p.add_argument("--warmup", type=int, default=1, help="untimed I+P warm-up passes")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: PyTorch's default)")
    p.add_argument("--compile", action="store_true", help="torch.compile the convolution stacks")
    p.add_argument("--channels-last", action="store_true", help="channels-last weights and frames")
    p.add_argument("--trained", action="store_true",
                   help="trained weights where the registry has them (default: untrained for all)")
    p.add_argument("--from", dest="source", metavar="RESULTS",
                   help="measure nothing: the table, plot and Markdown from an earlier results JSON")
    p.add_argument("--profile-ops", action="store_true",
                   help="also record the top operators of one more decode (torch profiler) "
                        "and the convolutions' MACs per pixel by part")
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds per configuration")
    p.add_argument("--targets", metavar="FILE.toml",
                   help="what the results are judged against (default: the issue's targets, "
                        "zoo/eval/speed/targets.toml; with --from, those the results record)")
    p.add_argument("-o", "--output", default="out/speed.json", help="results JSON")
    p.add_argument("--plot", help="image: seconds per P-frame against pixels per frame")
    p.add_argument("--markdown", help="Markdown file: the table replaces the block between "
                                      "'<!-- zoo speed: begin/end -->' (appended if absent)")
    p.set_defaults(func=cmd_speed)

    p = sub.add_parser("plot", help="rate-distortion curves from results JSON, one protocol")
    p.add_argument("results", nargs="+")
    p.add_argument("-o", "--output", required=True, help="image file, e.g. rd.png")
    p.add_argument("--metric", default="psnr-rgb", choices=("psnr-rgb", "psnr-yuv", "ms-ssim"))
    p.add_argument("--xlim", help="bpp range, e.g. 0,0.5")
    p.add_argument("--ylim", help="quality range, e.g. 25,40 (MS-SSIM in dB)")
    p.add_argument("--title")
    add_comparison_args(p)
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser("new-plugin", help="write a plugin package skeleton, with its test")
    p.add_argument("name", help="the plugin's name, e.g. sharpen")
    p.add_argument("--slot", required=True, help="the slot it fills (any but compose)")
    p.add_argument("-o", "--output", help="the package folder (default: zoo-NAME)")
    p.set_defaults(func=cmd_new_plugin)
    if with_plugins:
        add_plugin_commands(sub)
    return parser


def _exit(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


#: Third-party warnings that say nothing to a zoo user: (message, category, module), regexes.
QUIET_WARNINGS = (
    # compressai 1.2.8 scripts its entropy coder's helpers; torch 2.5+ deprecates that
    (r"`torch\.jit\.script` is deprecated", FutureWarning, r"torch\.jit"),
)


@contextmanager
def _one_line_warnings() -> Iterator[None]:
    """While a command runs, a :class:`~zoo.errors.ZooWarning` prints as one line on stderr."""
    previous = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        if issubclass(category, ZooWarning):
            err_console.print(f"warning: {message}", highlight=False, markup=False, soft_wrap=True)
        else:
            previous(message, category, filename, lineno, file, line)

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = previous


def main(argv: Sequence[str] | None = None) -> int:
    with _one_line_warnings():
        return _main(argv)


def _main(argv: Sequence[str] | None = None) -> int:
    for message, category, module in QUIET_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category, module=module)
    argv = sys.argv[1:] if argv is None else list(argv)
    allocator.configure()
    parser = make_parser()
    command = next((a for a in argv if not a.startswith("-")), None)
    if command not in _subcommands(parser) and (command or {"-h", "--help"} & set(argv)):
        parser = make_parser(with_plugins=True)  # loading the plugins costs seconds: only here
    args = parser.parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so that temporary outputs are removed (zoo.io.atomic)
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _exit) if main_thread else None
    try:
        args.func(args)
    except ZooError as e:
        if args.traceback or os.environ.get("ZOO_TRACEBACK") == "1":  # a plugin author debugging
            traceback.print_exception(e, file=sys.stderr)
        err_console.print(f"[red]error:[/] {e}", highlight=False, soft_wrap=True)
        return e.exit_code
    except KeyboardInterrupt:
        return 130
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous or signal.SIG_DFL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
