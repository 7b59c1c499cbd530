"""The package as a Gymnasium user meets it."""

import subprocess
import sys

SNIPPET = """
import sys
import gymnasium as gym
import crawler_rl
assert "pybullet" not in sys.modules, "importing the package must not load the simulator"
env = gym.make("CrawlerVelocity-v0")
obs, _ = env.reset(seed=0)
print(obs.shape[0])
env.close()
"""


def test_importing_the_package_registers_the_env_without_loading_pybullet():
    # A fresh interpreter: in this one other tests have registered the id already.
    result = subprocess.run([sys.executable, "-c", SNIPPET], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    from crawler_rl.sim.observation import OBS_DIM

    assert int(result.stdout.strip().splitlines()[-1]) == OBS_DIM
