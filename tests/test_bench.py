"""The benchmark report: ratios within a group, and what it ran on."""

import json

from dojo.bench import main, render

REPORT = {
    "machine_info": {"python_version": "3.11.7", "cpu": {"brand_raw": "Test CPU"},
                     "dojo": {"device": "cuda", "torch": "2.13.0", "cuda": "13.0",
                              "gpu": "NVIDIA H100", "mps": False, "threads": 16}},
    "datetime": "2026-11-21T10:00:00",
    "benchmarks": [
        {"group": "kv", "name": "test_bench_recompute",
         "stats": {"median": 0.030, "mean": 0.031, "stddev": 0.001, "rounds": 10}},
        {"group": "kv", "name": "test_bench_cached",
         "stats": {"median": 0.001, "mean": 0.0011, "stddev": 0.0001, "rounds": 100}},
        {"group": None, "name": "test_alone",
         "stats": {"median": 2e-6, "mean": 2e-6, "stddev": 0.0, "rounds": 5}},
    ],
}


def test_report_states_device_torch_and_ratios():
    text = render(REPORT)
    assert "- device: cuda (NVIDIA H100)" in text
    assert "- torch 2.13.0, CUDA 13.0, 16 CPU threads; Python 3.11.7" in text
    assert "| kv | cached | 1 ms | 1.1 ms ± 100 us | 100 | fastest |" in text
    assert "| kv | recompute | 30 ms | 31 ms ± 1 ms | 10 | 30.00x slower |" in text
    assert "- kv: cached is 30.00x faster than recompute" in text
    assert "| test_alone | alone | 2 us |" in text
    assert "alone is" not in text  # a group of one has no ratio


def test_main_writes_the_markdown(tmp_path, capsys):
    src, out = tmp_path / "b.json", tmp_path / "b.md"
    src.write_text(json.dumps(REPORT))
    assert main([str(src), "--out", str(out)]) == 0
    assert out.read_text() == render(REPORT)


def test_main_says_when_the_json_is_unreadable(tmp_path, capsys):
    assert main([str(tmp_path / "missing.json")]) == 2
    assert "cannot read" in capsys.readouterr().err
