"""tools/analysis/get_flops.py: mmseg's FLOPs report, which mmseg 1.2.2's
copy cannot give (it raises in MMEngine)."""


def test_flops_and_params_of_the_toy_recipe(load_tool, toy_config, capsys):
    info = load_tool('get_flops').main([toy_config, '--shape', '64', '64'])
    assert 0.5e9 < info['flops'] < 2e9 and info['params'] > 1e6
    assert 'flops: ' in capsys.readouterr().out
