"""The reference methods, as data. Every coefficient is cited to the publication it comes from.

Add a method by adding a `ButcherTableau` to `TABLEAUS`; the stepping engine
(`reference.rk_step`) and the loops (`reference.integrate`) need no change.
"""

from __future__ import annotations

from fractions import Fraction

from .tableau import ButcherTableau, DenseOutput, hermite_dense_output

HNW = "Hairer, Norsett, Wanner, Solving Ordinary Differential Equations I, 2nd ed. (1993)"

EULER = ButcherTableau.from_strings(
    "euler", c=["0"], a=[[]], b=["1"], order=1,
    source="Euler (1768); " + HNW + ", sec. II.1",
)

MIDPOINT = ButcherTableau.from_strings(
    "midpoint", c=["0", "1/2"], a=[[], ["1/2"]], b=["0", "1"], order=2,
    source="Runge (1895), explicit midpoint rule; " + HNW + ", sec. II.1, eq. (1.6)",
)

HEUN2 = ButcherTableau.from_strings(
    "heun2", c=["0", "1"], a=[[], ["1"]], b=["1/2", "1/2"], order=2,
    source="Heun (1900), explicit trapezoidal rule; " + HNW + ", sec. II.1, Table 1.1",
)

HEUN3 = ButcherTableau.from_strings(
    "heun3", c=["0", "1/3", "2/3"], a=[[], ["1/3"], ["0", "2/3"]], b=["1/4", "0", "3/4"], order=3,
    source="Heun (1900), third-order method; " + HNW + ", sec. II.1, Table 1.2",
)

RK4 = ButcherTableau.from_strings(
    "rk4", c=["0", "1/2", "1/2", "1"],
    a=[[], ["1/2"], ["0", "1/2"], ["0", "0", "1"]],
    b=["1/6", "1/3", "1/3", "1/6"], order=4,
    source="Kutta (1901), the classical Runge-Kutta method; " + HNW + ", sec. II.1, Table 1.2",
)

RK38 = ButcherTableau.from_strings(
    "rk38", c=["0", "1/3", "2/3", "1"],
    a=[[], ["1/3"], ["-1/3", "1"], ["1", "-1", "1"]],
    b=["1/8", "3/8", "3/8", "1/8"], order=4,
    source="Kutta (1901), the 3/8 rule; " + HNW + ", sec. II.1, Table 1.2",
)

_BOSH3_B = ["2/9", "1/3", "4/9", "0"]
BOSH3 = ButcherTableau.from_strings(
    "bosh3", c=["0", "1/2", "3/4", "1"],
    a=[[], ["1/2"], ["0", "3/4"], _BOSH3_B[:3]],
    b=_BOSH3_B, b_hat=["7/24", "1/4", "1/3", "1/8"],
    order=3, embedded_order=2, error_order=2, fsal=True,
    source="Bogacki & Shampine, A 3(2) pair of Runge-Kutta formulas, Appl. Math. Lett. 2 (1989) 321-325",
    # The pair's own continuous extension is the cubic Hermite interpolant through (y0, f0, y1, f1)
    # that its FSAL stage provides for free (Bogacki & Shampine 1989, sec. 3).
    dense=hermite_dense_output(
        [Fraction(x) for x in _BOSH3_B],
        source="cubic Hermite on y0, f0, y1, f1 (Bogacki & Shampine 1989)",
    ),
)

_DOPRI5_B = ["35/384", "0", "500/1113", "125/192", "-2187/6784", "11/84", "0"]
DOPRI5 = ButcherTableau.from_strings(
    "dopri5", c=["0", "1/5", "3/10", "4/5", "8/9", "1", "1"],
    a=[[],
       ["1/5"],
       ["3/40", "9/40"],
       ["44/45", "-56/15", "32/9"],
       ["19372/6561", "-25360/2187", "64448/6561", "-212/729"],
       ["9017/3168", "-355/33", "46732/5247", "49/176", "-5103/18656"],
       _DOPRI5_B[:6]],
    b=_DOPRI5_B,
    b_hat=["5179/57600", "0", "7571/16695", "393/640", "-92097/339200", "187/2100", "1/40"],
    order=5, embedded_order=4, error_order=4, fsal=True,
    source="Dormand & Prince, A family of embedded Runge-Kutta formulae, "
           "J. Comput. Appl. Math. 6 (1980) 19-26; " + HNW + ", sec. II.5, Table 5.2",
    # Fourth-order continuous extension of Shampine, Some practical Runge-Kutta formulas,
    # Math. Comp. 46 (1986) 135-150, as the stage polynomials b_i(theta); its theta^4 column is
    # Hairer's d_i of DOPRI5's dense output (HNW sec. II.6).
    dense=DenseOutput(
        P=tuple(tuple(Fraction(x) for x in row) for row in [
            ["1", "-8048581381/2820520608", "8663915743/2820520608", "-12715105075/11282082432"],
            ["0", "0", "0", "0"],
            ["0", "131558114200/32700410799", "-68118460800/10900136933", "87487479700/32700410799"],
            ["0", "-1754552775/470086768", "14199869525/1410260304", "-10690763975/1880347072"],
            ["0", "127303824393/49829197408", "-318862633887/49829197408", "701980252875/199316789632"],
            ["0", "-282668133/205662961", "2019193451/616988883", "-1453857185/822651844"],
            ["0", "40617522/29380423", "-110615467/29380423", "69997945/29380423"],
        ]),
        order=4,
        source="Shampine (1986), Math. Comp. 46, 135-150",
    ),
)

TABLEAUS: dict[str, ButcherTableau] = {
    t.name: t for t in (EULER, MIDPOINT, HEUN2, HEUN3, RK4, RK38, BOSH3, DOPRI5)
}
"""Every method `reference.odeint` knows, by name."""

FIXED_STEP_METHODS = tuple(n for n, t in TABLEAUS.items() if not t.adaptive)
ADAPTIVE_METHODS = tuple(n for n, t in TABLEAUS.items() if t.adaptive)
