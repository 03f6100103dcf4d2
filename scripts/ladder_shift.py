"""A ladder extended below its lowest quality, on docs/results/eval-MODEL.json against the
same file at commit REV (docs/training.md v31): whether quality k+1 codes every clip
exactly as REV's quality k did (bytes and PSNR-RGB), and what the new quality 0 costs.

    python scripts/ladder_shift.py REV MODEL...
"""

import argparse
import json
import subprocess


def main(rev: str, models: list[str]) -> None:
    for model in models:
        path = f"docs/results/eval-{model}.json"
        old = json.loads(subprocess.run(["git", "show", f"{rev}:{path}"], check=True,
                                        capture_output=True).stdout)
        new = json.load(open(path))
        same = lower = True
        for before, after in zip(old["sequences"], new["sequences"], strict=True):
            was = {p["quality"]: p for p in before["points"]}
            now = {p["quality"]: p for p in after["points"]}
            same &= all(p["bytes"] == now[q + 1]["bytes"] and p["summary"]["P"]["psnr_rgb"]
                        == now[q + 1]["summary"]["P"]["psnr_rgb"] for q, p in was.items())
            lower &= now[0]["bytes"] < was[0]["bytes"]
            p = now[0]["summary"]["P"]
            print(f"  {after['name']}: quality 0 {now[0]['bytes']} B ({rev}'s quality 0: "
                  f"{was[0]['bytes']} B), P-frames {p['bpp']:.4f} bpp, {p['psnr_rgb']:.2f} dB")
        print(f"{model}: qualities 1.. as {rev}'s 0..: {same}; quality 0 below {rev}'s on every clip: {lower}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rev")
    parser.add_argument("models", nargs="+")
    args = parser.parse_args()
    main(args.rev, args.models)
