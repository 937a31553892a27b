"""Four fake CPU devices, so the instance-axis sharding is exercised without hardware."""

import jax

jax.config.update("jax_num_cpu_devices", 4)
