"""The federated scenario of the demo, on Fashion-MNIST.

Drives a running federation (deploy/local/continuum-federation): gives
each site a label-skewed shard of Fashion-MNIST's training images (each
site's class mix drawn from a seeded Dirichlet(alpha)), gives the
coordinator's collector the evaluation images (Fashion-MNIST's test set),
trains a model centrally on the union of the shards as the reference (an
ordinary run on the coordinator's trainer, evaluated on the same images as
its golden set), then runs federated rounds and reports, per round, the
federation's accuracy on the evaluation images, each site's accuracy on
its own held-out rows, the registry's decision, and the round's phases.

Writes OUT/summary.md, OUT/rounds.csv and OUT/accuracy.svg; prints the
summary. Exit 0 when every round completed.

Usage: federated_demo.py --bin-dir DIR --python-dir DIR --env FILE --out DIR
       [--sites N] [--rounds R] [--rows-per-site N] [--eval-rows N]
       [--epochs E] [--learning-rate X] [--alpha A] [--seed S]
"""
import argparse
import csv
import gzip
import os
import struct
import subprocess
import sys
import time

DATA = "/usr/share/datasets/fashion-mnist"


def read_idx(name):
    with gzip.open(os.path.join(DATA, name), "rb") as f:
        data = f.read()
    magic, count = struct.unpack(">II", data[:8])
    if magic == 2049:
        return list(data[8:8 + count])
    rows, cols = struct.unpack(">II", data[8:16])
    size = rows * cols
    return [data[16 + i * size:16 + (i + 1) * size] for i in range(count)]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bin-dir", required=True)
    p.add_argument("--python-dir", required=True)
    p.add_argument("--env", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--sites", type=int, default=5)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--rows-per-site", type=int, default=2000)
    p.add_argument("--eval-rows", type=int, default=2000)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--learning-rate", type=float, default=0.002)
    p.add_argument("--alpha", type=float, default=0.5)
    p.add_argument("--seed", type=int, default=7)
    return p.parse_args()


def main():
    args = parse_args()
    sys.path.insert(0, args.python_dir)
    import grpc
    import numpy as np
    from continuum.v1 import (federated_pb2, federated_pb2_grpc, trainer_pb2,
                              trainer_pb2_grpc)
    from google.protobuf import field_mask_pb2

    env = dict(line.strip().split("=", 1) for line in open(args.env)
               if "=" in line)
    ctl = os.path.join(args.bin_dir, "continuumctl")
    os.makedirs(args.out, exist_ok=True)
    work = os.path.join(args.out, "data")
    os.makedirs(work, exist_ok=True)

    def run_ctl(*argv, target=None):
        cmd = [ctl, *argv] + ([f"--target={target}"] if target else [])
        r = subprocess.run(cmd, capture_output=True, text=True,
                           env={**os.environ, "CONTINUUM_ENDPOINTS": args.env})
        if r.returncode != 0:
            sys.exit(f"{' '.join(cmd)}: exit {r.returncode}: {r.stdout}{r.stderr}")
        return r.stdout

    # Shards: each site's class mix from Dirichlet(alpha).
    rng = np.random.default_rng(args.seed)
    images = read_idx("train-images-idx3-ubyte.gz")
    labels = read_idx("train-labels-idx1-ubyte.gz")
    by_class = [[i for i, y in enumerate(labels) if y == c] for c in range(10)]
    for pool in by_class:
        rng.shuffle(pool)
    header = "id,label," + ",".join(f"p{i}" for i in range(784))

    def write_csv(path, rows):
        with open(path, "w") as out:
            out.write(header + "\n")
            for rid, y, pixels in rows:
                out.write(f"{rid},{y}," +
                          ",".join("%.4g" % (b / 255.0) for b in pixels) + "\n")

    mixes = []
    union = []
    for site in range(1, args.sites + 1):
        mix = rng.dirichlet([args.alpha] * 10)
        mixes.append(mix)
        classes = rng.choice(10, size=args.rows_per_site, p=mix)
        rows = []
        for i, c in enumerate(classes):
            if not by_class[c]:
                c = max(range(10), key=lambda k: len(by_class[k]))
            index = by_class[c].pop()
            rows.append((f"site{site}-img{index}", labels[index], images[index]))
        union.extend(rows)
        path = os.path.join(work, f"site{site}.csv")
        write_csv(path, rows)
        target = env[f"SITE_{site}_COLLECTOR"]
        run_ctl("datasets", "create", "--dataset=fed", "--features=784",
                "--classes=10", target=target)
        run_ctl("ingest", "--dataset=fed", f"--csv={path}", target=target)
    test_images = read_idx("t10k-images-idx3-ubyte.gz")
    test_labels = read_idx("t10k-labels-idx1-ubyte.gz")
    eval_rows = [(f"test-{i}", test_labels[i], test_images[i])
                 for i in range(args.eval_rows)]
    write_csv(os.path.join(work, "eval.csv"), eval_rows)
    write_csv(os.path.join(work, "union.csv"), union)
    for dataset, path in (("fed", "eval.csv"), ("central", "union.csv")):
        run_ctl("datasets", "create", f"--dataset={dataset}", "--features=784",
                "--classes=10")
        run_ctl("ingest", f"--dataset={dataset}",
                f"--csv={os.path.join(work, path)}")

    # Version 1 of both models: the same fresh weights.
    bundle = os.path.join(work, "v1.bundle")
    run_ctl("model", "init", "--family=mlp_classifier", "--inputs=784",
            "--classes=10", "--hidden=128", "--seed=11", f"--output={bundle}")
    report = os.path.join(work, "report.json")
    with open(report, "w") as f:
        f.write('{"evaluations": [{"evaluationSet": "held_out", "candidate": '
                '{"loss": 2.3, "accuracy": 0.1, "sampleCount": 1000}}]}')
    for model in ("fed", "central"):
        run_ctl("models", "register", f"--model={model}",
                "--family=mlp_classifier", "--plan=immediate")
        run_ctl("upload", f"--model={model}", f"--file={bundle}",
                f"--report={report}")

    trainer = trainer_pb2_grpc.TrainerServiceStub(
        grpc.insecure_channel(env["CONTINUUM_TRAINER"]))
    coordinator = federated_pb2_grpc.FederatedServiceStub(
        grpc.insecure_channel(env["CONTINUUM_TRAINER"]))
    site_trainers = [trainer_pb2_grpc.TrainerServiceStub(
        grpc.insecure_channel(env[f"SITE_{s}_TRAINER"]))
        for s in range(1, args.sites + 1)]

    def wait_run(stub, name, seconds=1800):
        deadline = time.time() + seconds
        while time.time() < deadline:
            run = stub.GetRun(trainer_pb2.GetRunRequest(name=name)).run
            if run.state in (trainer_pb2.RUN_STATE_SUCCEEDED,
                             trainer_pb2.RUN_STATE_REJECTED,
                             trainer_pb2.RUN_STATE_FAILED,
                             trainer_pb2.RUN_STATE_CANCELLED):
                return run
            time.sleep(0.5)
        sys.exit(f"run {name} did not end in {seconds} s")

    def accuracy(run, evaluation_set):
        for e in run.report.evaluations:
            if e.evaluation_set == evaluation_set:
                return e.candidate.accuracy
        return float("nan")

    # The reference: the union trained centrally, as many epochs over it as
    # each site makes over its shard in all rounds together.
    central_epochs = args.epochs * args.rounds
    config = trainer_pb2.TrainingConfig(
        name="models/central/trainingConfig", dataset="central",
        golden_dataset="fed", epochs=central_epochs,
        strategy=trainer_pb2.TRAINING_STRATEGY_INCREMENTAL)
    config.optimizer.learning_rate = args.learning_rate
    trainer.ConfigureTraining(trainer_pb2.ConfigureTrainingRequest(
        config=config, update_mask=field_mask_pb2.FieldMask(
            paths=["dataset", "golden_dataset", "epochs", "strategy",
                   "optimizer.learning_rate"])))
    started = time.time()
    run = trainer.TriggerRun(trainer_pb2.TriggerRunRequest(
        parent="models/central", reason="federated demo: the central "
        "reference")).run
    run = wait_run(trainer, run.name)
    central = accuracy(run, "golden")
    central_seconds = time.time() - started
    print(f"central reference: {central_epochs} epochs on {len(union)} rows, "
          f"accuracy {central:.4f} on {len(eval_rows)} test images "
          f"({central_seconds:.1f} s)")

    # The rounds.
    rounds = []
    for r in range(1, args.rounds + 1):
        cfg = federated_pb2.FederatedConfig(
            min_sites=args.sites, max_sites=args.sites,
            local_epochs=args.epochs, local_learning_rate=args.learning_rate)
        opened = coordinator.StartRound(federated_pb2.StartRoundRequest(
            parent="models/fed", config=cfg,
            reason=f"federated demo round {r}")).round
        deadline = time.time() + 1800
        while True:
            got = coordinator.GetRound(
                federated_pb2.GetRoundRequest(name=opened.name)).round
            if got.state in (federated_pb2.ROUND_STATE_COMPLETED,
                             federated_pb2.ROUND_STATE_FAILED):
                break
            if time.time() > deadline:
                sys.exit(f"{opened.name} did not end in 30 minutes")
            time.sleep(0.5)
        if got.state == federated_pb2.ROUND_STATE_FAILED:
            sys.exit(f"{opened.name} failed: {got.error.message}")
        run = wait_run(trainer, got.run)
        # Each site's local run for this round (the round's name is on it).
        local = {}
        for s, stub in enumerate(site_trainers, start=1):
            listed = stub.ListRuns(trainer_pb2.ListRunsRequest(
                parent="models/fed", page_size=100)).runs
            mine = [x for x in listed if x.round == got.name]
            if mine:
                local[s] = mine[0].candidate_metrics.accuracy
        def ts(t):
            return t.seconds + t.nanos / 1e9
        created = ts(got.create_time)
        # Where the round's time went, as the coordinator recorded it
        # (Round.phases; site phases are the slowest site's).
        ph = got.phases
        phases = {
            "join": ts(ph.join), "download": ts(ph.download),
            "local training": ts(ph.local_training), "upload": ts(ph.upload),
            "aggregation": ts(ph.aggregation),
            "validation and gates": ts(ph.validation),
        }
        decision = trainer_pb2.RunState.Name(run.state).replace("RUN_STATE_", "")
        rounds.append({
            "round": r, "federation": accuracy(run, "held_out"),
            "base": [e.baseline.accuracy for e in run.report.evaluations
                     if e.evaluation_set == "held_out"][0],
            "decision": decision, "local": local, "phases": phases,
            "seconds": ts(got.end_time) - created,
            "version": got.result_version.version})
        print(f"round {r}: federation accuracy {rounds[-1]['federation']:.4f} "
              f"(base {rounds[-1]['base']:.4f}), {decision}, "
              f"{rounds[-1]['seconds']:.1f} s; sites " +
              " ".join(f"{s}:{a:.3f}" for s, a in sorted(local.items())))

    # Report.
    with open(os.path.join(args.out, "rounds.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["round", "federation_accuracy", "base_accuracy",
                    "decision", "seconds"] +
                   [f"site{s}_local_accuracy" for s in range(1, args.sites + 1)])
        for x in rounds:
            w.writerow([x["round"], "%.4f" % x["federation"], "%.4f" % x["base"],
                        x["decision"], "%.1f" % x["seconds"]] +
                       ["%.4f" % x["local"].get(s, float("nan"))
                        for s in range(1, args.sites + 1)])
    best = max(x["federation"] for x in rounds)
    slowest = max(rounds[-1]["phases"], key=rounds[-1]["phases"].get)
    lines = [
        "# Federated learning on Fashion-MNIST", "",
        f"{args.sites} sites, {args.rows_per_site} training images each, "
        f"class mixes from Dirichlet({args.alpha}) (seed {args.seed}); "
        f"{args.rounds} FedAvg rounds of {args.epochs} local epochs "
        f"(learning rate {args.learning_rate}); evaluation on "
        f"{len(eval_rows)} test images held by the coordinator.", "",
        "| site | class mix (0-9) |", "| --- | --- |"]
    for s, mix in enumerate(mixes, start=1):
        lines.append(f"| {s} | " + " ".join("%.2f" % m for m in mix) + " |")
    lines += ["", "| round | federation | base | registry | seconds | " +
              " | ".join(f"site {s} (own held-out)"
                         for s in range(1, args.sites + 1)) + " |",
              "| --- " * (5 + args.sites) + "|"]
    for x in rounds:
        lines.append(f"| {x['round']} | {x['federation']:.4f} | "
                     f"{x['base']:.4f} | {x['decision']} | {x['seconds']:.1f} | "
                     + " | ".join("%.4f" % x["local"].get(s, float("nan"))
                                  for s in range(1, args.sites + 1)) + " |")
    lines += ["", f"Central reference (the union, {central_epochs} epochs): "
              f"{central:.4f}. Best federated round: {best:.4f} "
              f"({(best - central) * 100:+.1f} points).", "",
              f"Phases of the last round (s): " +
              ", ".join(f"{k} {v:.2f}" for k, v in rounds[-1]["phases"].items())
              + f"; the slowest: {slowest}.", "",
              "![accuracy per round](accuracy.svg)"]
    summary = "\n".join(lines) + "\n"
    with open(os.path.join(args.out, "summary.md"), "w") as f:
        f.write(summary)
    write_chart(os.path.join(args.out, "accuracy.svg"), rounds, central,
                args.sites)
    print(summary)
    print(f"CENTRAL {central:.4f} FEDERATED {best:.4f}")
    return 0


def write_chart(path, rounds, central, sites):
    w, h, pad = 640, 360, 50
    n = len(rounds)
    def x(r):
        return pad + (w - 2 * pad) * (r - 1) / max(1, n - 1)
    def y(a):
        return h - pad - (h - 2 * pad) * a
    colours = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
               "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}">',
           f'<rect width="{w}" height="{h}" fill="white"/>',
           f'<line x1="{pad}" y1="{y(0)}" x2="{w - pad}" y2="{y(0)}" stroke="black"/>',
           f'<line x1="{pad}" y1="{y(0)}" x2="{pad}" y2="{y(1)}" stroke="black"/>',
           f'<text x="{pad - 40}" y="{y(1) + 4}" font-size="11">1.0</text>',
           f'<text x="{pad - 40}" y="{y(0.5) + 4}" font-size="11">0.5</text>',
           f'<text x="{w / 2 - 40}" y="{h - 15}" font-size="12">round</text>',
           f'<line x1="{pad}" y1="{y(central)}" x2="{w - pad}" y2="{y(central)}" '
           f'stroke="black" stroke-dasharray="6,4"/>',
           f'<text x="{w - pad - 120}" y="{y(central) - 5}" font-size="11">'
           f'central {central:.3f}</text>']
    def polyline(points, colour, width):
        out.append('<polyline fill="none" stroke="%s" stroke-width="%d" '
                   'points="%s"/>' % (colour, width, " ".join(
                       f"{px:.1f},{py:.1f}" for px, py in points)))
    for s in range(1, sites + 1):
        pts = [(x(r["round"]), y(r["local"][s])) for r in rounds
               if s in r["local"]]
        polyline(pts, colours[(s - 1) % len(colours)], 1)
        if pts:
            out.append(f'<text x="{pts[-1][0] + 4}" y="{pts[-1][1]}" '
                       f'font-size="10">site {s}</text>')
    polyline([(x(r["round"]), y(r["federation"])) for r in rounds], "black", 3)
    out.append(f'<text x="{pad + 5}" y="{pad - 10}" font-size="13">'
               'federation (bold) on the coordinator\'s test images; '
               'sites on their own held-out rows</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    sys.exit(main())
