import numpy as np

from purify_tf.vectors import angular_error_deg, pitchyaw_to_vector, vector_to_pitchyaw


def test_round_trip_and_convention():
    rng = np.random.default_rng(0)
    py = rng.uniform([-0.6, -0.8], [0.6, 0.8], size=(100, 2)).astype(np.float32)
    v = pitchyaw_to_vector(py)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(vector_to_pitchyaw(v), py, atol=1e-5)
    # Looking straight at the camera is -z.
    np.testing.assert_allclose(pitchyaw_to_vector(np.zeros((1, 2))), [[0, 0, -1]], atol=1e-7)


def test_angular_error():
    a = pitchyaw_to_vector(np.array([[0.0, 0.0]]))
    b = pitchyaw_to_vector(np.array([[0.0, np.radians(10.0)]]))
    np.testing.assert_allclose(angular_error_deg(a, b), [10.0], atol=1e-4)
    np.testing.assert_allclose(angular_error_deg(a, 3 * a), [0.0], atol=1e-4)
